# shellcheck shell=bash
# plot.sh: the picture of a comparison bench's ramp (sourced by the bench scripts; uses their
# TARGET_DIR, PLOT and say).
# plot_ramp CSV SVG TITLE XLABEL YLABEL Y2LABEL: the ramp's picture (bench-plot, built with the
# benches crate); copied to $PLOT when set. A missing tool costs the picture, not the run.
plot_ramp() {
    local tool=$TARGET_DIR/release/bench-plot
    if [[ ! -x $tool ]]; then
        say "no picture: $tool is not built (cargo build --release -p benches)"
        return 0
    fi
    if "$tool" --csv "$1" --out "$2" --title "$3" --x "$4" --y "$5" --y2 "$6" 2>"$2.err"; then
        say "picture of the ramp: $2"
        [[ -z ${PLOT:-} ]] || cp "$2" "$PLOT"
    else
        say "no picture: $(cat "$2.err")"
    fi
}

# relay_steps LABEL FILE: the CSV rows (LABEL,offered pps,relayed pps,loss %) of the STEP lines
# relay-load printed into FILE.
relay_steps() {
    awk -v l="$1" '$1 == "STEP" {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s,%s,%s,%s\n", l, v["offered_pps"], v["relayed_pps"], v["loss_pct"] }' "$2"
}
