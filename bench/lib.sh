# bench/lib.sh: sourced by the benchmarks. $TMP/configs holds "name|command" lines; each
# command prints its figure as "ns_per_pair X" or "seconds X".

# Run every configuration $ROUNDS times, interleaved so machine noise hits all alike.
bench_rounds() {
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		while IFS='|' read -r name cmd; do
			v=$(sh -c "$cmd" 2>/dev/null | sed -n 's/^ns_per_pair //p;s/^seconds //p')
			echo "$name|$v" >> "$TMP/results"
		done < "$TMP/configs"
		r=$((r + 1))
	done
}

# The median figure of one configuration, or nan.
median() {
	grep -F "$1|" "$TMP/results" | cut -d'|' -f2 | grep . | sort -n |
		awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'
}

# The median of the numbers in a file, one a line, or nan.
median_of() {
	grep . "$1" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "nan"}'
}
