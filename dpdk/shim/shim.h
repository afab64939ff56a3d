/*
 * Out-of-line wrappers for the DPDK static-inline functions (and the per-lcore errno) the
 * Ferrovox fast path needs: bindgen cannot bind static-inline functions or thread-local
 * variables, so each gets a plain function here.
 */
#ifndef FERROVOX_DPDK_SHIM_H
#define FERROVOX_DPDK_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

/* rte_eth_rx_burst */
uint16_t fv_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
/* rte_eth_tx_burst */
uint16_t fv_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
/* rte_pktmbuf_alloc */
struct rte_mbuf *fv_pktmbuf_alloc(struct rte_mempool *pool);
/* rte_pktmbuf_alloc_bulk: 0 when all n were allocated, negative (none allocated) otherwise */
int fv_pktmbuf_alloc_bulk(struct rte_mempool *pool, struct rte_mbuf **pkts, unsigned int n);
/* rte_pktmbuf_free (whole chain) */
void fv_pktmbuf_free(struct rte_mbuf *m);
/* rte_pktmbuf_mtod: the first data byte */
void *fv_pktmbuf_mtod(struct rte_mbuf *m);
/* rte_pktmbuf_append: grows the last segment by len; NULL when it has no room */
char *fv_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
/* rte_prefetch0 */
void fv_prefetch0(const void *p);
/* rte_errno of the calling thread */
int fv_errno(void);
/* rte_lcore_id of the calling thread (UINT32_MAX outside EAL threads) */
unsigned int fv_lcore_id(void);
/* rte_ring_enqueue_burst */
unsigned int fv_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned int n);
/* rte_ring_dequeue_burst */
unsigned int fv_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned int n);
/* rte_ring_count */
unsigned int fv_ring_count(const struct rte_ring *r);
/* rte_rdtsc */
uint64_t fv_rdtsc(void);
/* rte_pause */
void fv_pause(void);

#endif
