# shellcheck shell=bash
# plot.sh: the picture of a comparison bench's ramp (sourced by the bench scripts; uses their
# TARGET_DIR, PLOT and say).
# plot_ramp CSV SVG TITLE XLABEL YLABEL Y2LABEL: the ramp's picture (bench-plot, built with the
# benches crate); copied to $PLOT when set. The picture is part of the bench's output: a
# missing tool or a failed drawing fails the run (the figures above are printed already).
plot_ramp() {
    local tool=$TARGET_DIR/release/bench-plot
    [[ -x $tool ]] || { say "bench-plot is not built at $tool (cargo build --release -p benches)"; return 1; }
    "$tool" --csv "$1" --out "$2" --title "$3" --x "$4" --y "$5" --y2 "$6" ||
        { say "bench-plot could not draw $2 from $1"; return 1; }
    say "picture of the ramp: $2"
    [[ -z ${PLOT:-} ]] || cp "$2" "$PLOT"
}

# relay_steps LABEL FILE: the CSV rows (LABEL,offered pps,relayed pps,loss %) of the STEP lines
# relay-load printed into FILE.
relay_steps() {
    awk -v l="$1" '$1 == "STEP" {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s,%s,%s,%s\n", l, v["offered_pps"], v["relayed_pps"], v["loss_pct"] }' "$2"
}
