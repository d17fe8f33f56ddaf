# The scaling plot of scripts/bench-scaling.sh: gnuplot -e "data='last.tsv'; out='scaling.png'"
# bench/plot-scaling.gp. Columns of `data`: proxy, threads, body bytes, req/s, CPU µs per request.
set terminal pngcairo size 1200,480 font "sans,10"
set output out
set datafile separator "\t"
set multiplot layout 1,2 title "payglot translating (AlpPay → Cryptomus) vs the pingora pass-through, by request body size"
set logscale x 2
set xlabel "request body (KiB)"
set grid
set key top right
set xrange [0.35:90]
set xtics ("0.5" 0.5, "4" 4, "16" 16, "60" 60)
filter(proxy, threads) = sprintf("< awk -F'\t' '$1 == \"%s\" && $2 == \"%s\"' %s", proxy, threads, data)

set title "throughput (median req/s, wrk -t1 -c32)"
set ylabel "req/s"
set yrange [0:*]
plot filter("payglot-translate", "1") using ($3/1024):4 with linespoints lw 2 pt 7 title "payglot, 1 thread", \
     filter("payglot-translate", "2") using ($3/1024):4 with linespoints lw 2 pt 5 title "payglot, 2 threads", \
     filter("pingora-passthrough", "1") using ($3/1024):4 with linespoints lw 2 pt 6 dt 2 title "pingora pass-through, 1 thread", \
     filter("pingora-passthrough", "2") using ($3/1024):4 with linespoints lw 2 pt 4 dt 2 title "pingora pass-through, 2 threads"

set title "proxy CPU per request"
set ylabel "CPU µs per request"
set key top left
plot filter("payglot-translate", "1") using ($3/1024):5 with linespoints lw 2 pt 7 title "payglot, 1 thread", \
     filter("payglot-translate", "2") using ($3/1024):5 with linespoints lw 2 pt 5 title "payglot, 2 threads", \
     filter("pingora-passthrough", "1") using ($3/1024):5 with linespoints lw 2 pt 6 dt 2 title "pingora pass-through, 1 thread", \
     filter("pingora-passthrough", "2") using ($3/1024):5 with linespoints lw 2 pt 4 dt 2 title "pingora pass-through, 2 threads"
unset multiplot
