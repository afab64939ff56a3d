/* The DPDK headers the bindings cover, and the shim's own declarations. */
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_eth_ring.h>
#include <rte_bus_vdev.h>
#include "shim.h"

/*
 * The ethdev offload and RSS bits Ferrovox sets are function-like macros (RTE_BIT64), which
 * bindgen cannot evaluate: the same values as enumerators, which it can.
 */
enum fv_eth_bits {
	FV_ETH_RX_OFFLOAD_IPV4_CKSUM = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM,
	FV_ETH_RX_OFFLOAD_UDP_CKSUM = RTE_ETH_RX_OFFLOAD_UDP_CKSUM,
	FV_ETH_RSS_IPV4 = RTE_ETH_RSS_IPV4,
	FV_ETH_RSS_NONFRAG_IPV4_UDP = RTE_ETH_RSS_NONFRAG_IPV4_UDP,
	FV_ETH_RSS_IPV6 = RTE_ETH_RSS_IPV6,
	FV_ETH_RSS_NONFRAG_IPV6_UDP = RTE_ETH_RSS_NONFRAG_IPV6_UDP,
};
