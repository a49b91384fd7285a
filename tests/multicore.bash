# tests/multicore.bash: the bodies of the tests of one event loop per core
# (chapters 15 on): -L loops, each a thread with its own epoll set, and the
# three ways they share the port (-m reuseport, exclusive, shared), counted
# per loop. One function per test, so that every later chapter's suite
# runs them too. A suite loads it (`load multicore`) after helper and http,
# sets BIN to its server, and calls each body from a @test of the same
# name. Every server here runs 2 loops, which a 2-core machine can hold.

# counters_now: ask for the counters (SIGUSR1) and wait for the lines that
# answer: the last "loop=" lines of the log are then this moment's.
counters_now() {
	local k
	k=$(logged '^status: ')
	kill -USR1 "$SERVER_PID"
	wait_for 10 status_lines_over "$k"
}

# counter FIELD [LOOP]: the last value of FIELD (accepted, wakeups, wasted,
# requests) printed for loop LOOP, or summed over every loop.
counter() {
	local field=$1 loop=${2:-} log
	log=$(log_of SERVER)
	grep '^loop=' "$log" | tail -n 2 |
		awk -v f="$field" -v l="$loop" '
			{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			  if (l == "" || v["loop"] == l) sum += v[f] }
			END { print sum + 0 }'
}

# connections N: N connections one after the other, one request each
# (Connection: close): one curl, which opens the next when the last closes.
connections() {
	local n=$1 args=() i url=http://127.0.0.1:$SERVER_PORT/
	for ((i = 1; i < n; i++)); do
		args+=(-o /dev/null "$url")
	done
	http "$url" -o /dev/null -H 'Connection: close' "${args[@]}"
}

# listeners: how many sockets listen on 127.0.0.1:SERVER_PORT (ss -ltn).
listeners() {
	ss -Hltn "sport = :$SERVER_PORT" | grep -c "127.0.0.1:$SERVER_PORT "
}

# clients_logged N: the server has logged N "new client" lines.
clients_logged() {
	[ "$(logged '^new client: ')" -eq "$1" ]
}

# a bad command line gets the usage line with -L and -m, and status 2
check_usage_names_loops_and_modes() {
	refuses_with_usage \
		"usage: server [-q] [-t SECONDS] [-b BYTES] [-d DIR] [-w WORKERS] [-Q QUEUE] [-L LOOPS] [-m reuseport|exclusive|shared] [PORT]" \
		-x abc 65536 "-t 0" "-w 0" "-Q 0" "-L 0" "-L 257" "-L x" \
		"-m x" "-m" "-m REUSEPORT" -L
}

# ss: 2 listening sockets in reuseport mode (one per loop), 1 otherwise
check_ss_shows_a_listener_per_loop_with_reuseport() {
	server_start "$BIN" -L 2 -m reuseport 0
	[ "$(listeners)" -eq 2 ]
	stop SERVER 0
	for mode in exclusive shared; do
		server_start "$BIN" -L 2 -m "$mode" 0
		[ "$(listeners)" -eq 1 ]
		stop SERVER 0
	done
}

# /proc/PID/task: main, a thread per loop, and the pool's workers
check_a_thread_per_loop_and_the_pool() {
	server_start "$BIN" -L 2 -w 3 0
	local names
	names=$(cat /proc/"$SERVER_PID"/task/*/comm | sort | tr '\n' ' ')
	echo "threads: $names"
	[ "$(grep -c '^loop[01]$' /proc/"$SERVER_PID"/task/*/comm | awk -F: '{s += $2} END {print s}')" -eq 2 ]
	# ThreadSanitizer runs a thread of its own.
	if [ "${SANITIZED:-}" = thread ]; then
		[ "$(ls /proc/"$SERVER_PID"/task | wc -l)" -ge 6 ]
	else
		[ "$(ls /proc/"$SERVER_PID"/task | wc -l)" -eq 6 ]
	fi
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
}

# herd MODE: 1,000 connections one after the other to a server in MODE;
# every one accepted once and answered; the counters printed
herd() {
	server_start "$BIN" -q -L 2 -m "$1" 0
	connections 1000
	counters_now
	grep '^loop=' "$(log_of SERVER)" | tail -n 2
	[ "$(counter accepted)" -eq 1000 ]
	[ "$(counter requests)" -eq 1000 ]
	[ "$(counter wakeups)" -eq $((1000 + $(counter wasted))) ]
}

# 1,000 sequential connections: reuseport wastes no wakeup; exclusive
# nearly none; shared wakes the loop that loses the race, which finds
# nothing (most of the herd stays in the kernel: see the page)
check_1000_connections_the_herd_counted() {
	local shared exclusive
	herd reuseport
	[ "$(counter wasted)" -eq 0 ]
	stop SERVER 0
	herd exclusive
	exclusive=$(counter wasted)
	stop SERVER 0
	herd shared
	shared=$(counter wasted)
	echo "wasted: exclusive $exclusive, shared $shared"
	[ "$exclusive" -lt 100 ]
	[ "$shared" -ge 1 ]
}

# a pipelined connection is answered by one loop: its 100 requests are
# counted on one loop's line, in each mode
check_a_pipelined_connection_is_answered_by_one_loop() {
	local mode n=100
	for mode in reuseport exclusive shared; do
		server_start "$BIN" -q -L 2 -m "$mode" 0
		run -0 --separate-stderr timeout 10 "$COMMON/peer" -q -x $n \
			-e $((n * ${#HELLO_KEPT})) -s "GET / HTTP/1.1\r\n${HOST_LINE}\r\n" \
			"$SERVER_PORT"
		counters_now
		grep '^loop=' "$(log_of SERVER)" | tail -n 2
		[ "$(counter requests)" -eq $n ]
		[ "$(counter requests 0)" -eq $n ] || [ "$(counter requests 1)" -eq $n ]
		stop SERVER 0
	done
}

# SIGTERM with connections open on both loops: every loop joined (the
# counters come after), exit 0, nothing leaked
check_sigterm_joins_every_loop() {
	server_start "$BIN" -L 2 -m reuseport 0
	local fds=() i
	# Enough connections that both queues get some (hashed by port).
	for i in $(seq 20); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"
		fds+=("$fd")
	done
	wait_for 10 clients_logged 20
	stop SERVER 0
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	log_has 'got SIGTERM: closing 20 connections'
	# The counters, after the join: both loops accepted some.
	[ "$(grep -c '^loop=' "$(log_of SERVER)")" -eq 2 ]
	[ "$(counter accepted)" -eq 20 ]
	[ "$(counter accepted 0)" -ge 1 ]
	[ "$(counter accepted 1)" -ge 1 ]
}

# strace -f, shared mode: the counters are the calls. Every wakeup a loop
# counts is one accept4, and every wasted one an accept4 that found
# nothing (EAGAIN); a call two threads were in at once is split over two
# lines, and only the resumed half has the result.
check_strace_f_the_herd_counters_are_the_calls() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace calls eagain
	spawn_traced "$trace" -f -e trace=accept4 -- "$BIN" -q -L 2 -m shared 0
	connections 500
	stop_traced 0
	grep '^loop=' "$(log_of SERVER)"
	calls=$(grep -cE '(accept4\(|<\.\.\. accept4 resumed>).* = (-1|[0-9]+)( |$)' "$trace")
	eagain=$(grep -cE '(accept4\(|<\.\.\. accept4 resumed>).* = -1 EAGAIN' "$trace")
	echo "strace -f: $calls accept4, $eagain of them EAGAIN"
	[ "$(counter accepted)" -eq 500 ]
	[ "$calls" -eq "$(counter wakeups)" ]
	[ "$eagain" -eq "$(counter wasted)" ]
	[ "$eagain" -ge 1 ]
}

# strace -f, exclusive mode: main registers the listener in each loop's
# epoll set with EPOLLEXCLUSIVE and without EPOLLRDHUP (two descriptors for
# one socket); every accept4 is made by a loop's thread, not by main
check_strace_f_exclusive_listener_in_every_loop() {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace main
	spawn_traced "$trace" -f -e trace=epoll_ctl,accept4 -- \
		"$BIN" -q -L 2 -m exclusive 0
	connections 10
	stop_traced 0
	grep -E 'EPOLLEXCLUSIVE|accept4' "$trace" | grep -v EAGAIN
	[ "$(grep -c 'EPOLL_CTL_ADD, [0-9]*, {events=EPOLLIN|EPOLLEXCLUSIVE, ' "$trace")" -eq 2 ]
	! grep -q 'EPOLLEXCLUSIVE.*EPOLLRDHUP\|EPOLLRDHUP.*EPOLLEXCLUSIVE' "$trace"
	# Two threads in a call at once split a line: "accept4(9, <unfinished
	# ...>" then "<... accept4 resumed> ...) = 18".
	[ "$(grep -cE '(accept4\(|<\.\.\. accept4 resumed>).* = [0-9]+$' "$trace")" -eq 10 ]
	main=$(grep -m1 'EPOLLEXCLUSIVE' "$trace" | awk '{print $1}')
	! grep -E 'accept4\(' "$trace" | awk '{print $1}' | grep -qx "$main"
}
