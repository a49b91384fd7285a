# tests/threads.bash: the bodies of the tests of blocking work handed to a
# pool of threads (chapters 14 on): GET /files/NAME read by a worker, GET
# /lookup/HOST resolved by one, the bounded queue, the waker, and the
# shutdown with a worker blocked. One function per test, so that every
# later chapter's suite runs them too. A suite loads it (`load threads`)
# after helper and http, sets BIN to its server, and calls each body from a
# @test of the same name.
#
# A FIFO is the slow disk of these tests: a worker's open(2) of it blocks
# until a writer opens it, and its read(2) until the writer writes or
# closes. The test holds the writer's end, so it decides when the work is
# done.

# files_dir: a directory for -d, with a small file, a FIFO, a directory and
# a symbolic link out of it; sets FILES.
files_dir() {
	FILES=$BATS_TEST_TMPDIR/files
	mkdir -p "$FILES/sub"
	printf 'hello from a file\n' >"$FILES/a.txt"
	mkfifo "$FILES/fifo"
	ln -s /etc/hosts "$FILES/hosts"
	printf 'secret\n' >"$BATS_TEST_TMPDIR/secret"
}

# requests_read N: the server has read N whole requests ("got all data").
requests_read() {
	[ "$(logged '^got all data: ')" -ge "$1" ]
}

# timed_out_writing: a connection's deadline passed while it waited for its
# answer (the log's "ADDR: timeout, writing the response").
timed_out_writing() {
	[ "$(logged ': timeout, writing the response$')" -ge 1 ]
}

# code_of PATH [CURL ARGS...]: the status code of GET PATH.
code_of() {
	local path=$1
	shift
	http "http://127.0.0.1:$SERVER_PORT$path" -o /dev/null -w '%{http_code}' "$@"
}

# a bad command line gets the usage line with -d, -w and -Q; a missing -d DIR
# is a setup failure: status 1 and "DIR: strerror"
check_usage_names_the_pool_and_d() {
	refuses_with_usage \
		"usage: server [-q] [-t SECONDS] [-b BYTES] [-d DIR] [-w WORKERS] [-Q QUEUE] [PORT]" \
		-x abc 65536 "-t 0" "-b 1k" "-w 0" "-w 257" "-w x" "-Q 0" \
		"-Q 65537" -d -w
	run -1 --separate-stderr timeout 10 "$BIN" -d "$BATS_TEST_TMPDIR/none" 0
	[ "$stderr" = "$BATS_TEST_TMPDIR/none: No such file or directory" ]
}

# GET /files/NAME serves the file; without -d, or for a name it lacks, 404
check_files_serves_a_file_and_404_without_it() {
	files_dir
	server_start "$BIN" -d "$FILES" 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/files/a.txt" -i
	[[ $output == "HTTP/1.1 200 OK"* ]]
	[[ $output == *$'Content-Length: 18\r'* ]]
	[ "${lines[-1]}" = "hello from a file" ]
	[ "$(code_of /files/missing)" = 404 ]
	[ "$(code_of /files/a.txt -I)" = 200 ]
	[ "$(code_of /files/a.txt -X POST)" = 405 ]
	stop SERVER 0
	server_start "$BIN" 0
	[ "$(code_of /files/a.txt)" = 404 ]
}

# a name that would leave the directory is refused: "..", "/", a symbolic link
# out, the directory itself; nothing outside it is ever served
check_names_that_escape_the_directory_are_refused() {
	files_dir
	server_start "$BIN" -d "$FILES" 0
	local path code
	for path in /files/hosts /files/../secret /files/..%2fsecret \
		/files/.. /files/. /files/sub /files/sub/../a.txt \
		/files//etc/hosts /files/%2e%2e; do
		code=$(code_of "$path" --path-as-is)
		echo "$path: $code"
		[ "$code" = 403 ] || [ "$code" = 404 ]
	done
	run -0 http "http://127.0.0.1:$SERVER_PORT/files/hosts"
	[[ $output != *localhost* ]]
	[ "$(code_of /files/hosts)" = 403 ]
	[ "$(code_of /files/sub)" = 403 ]
	[ "$(code_of /files/a.txt)" = 200 ]
}

# a FIFO's read blocks one worker (-w 1), and GET / is answered meanwhile,
# promptly; closing the FIFO's writer completes the answer
check_a_blocked_read_leaves_the_loop_free() {
	files_dir
	server_start "$BIN" -d "$FILES" -w 1 0
	local out=$BATS_TEST_TMPDIR/out start took w pid
	http "http://127.0.0.1:$SERVER_PORT/files/fifo" -o "$out" &
	pid=$!
	wait_for 10 requests_read 1
	# The worker is in openat, or about to be: the loop is not.
	start=$EPOCHREALTIME
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	took=$(elapsed_since "$start")
	[ "$output" = Hello ]
	diag "GET / answered in $took s while a worker was blocked"
	seconds_between "$took" 0 0.5
	# The FIFO's reader (the worker) is waiting for a writer: open it.
	exec {w}>"$FILES/fifo"
	printf 'from the fifo\n' >&"$w"
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ ! -s "$out" ] # no answer while the writer is open
	exec {w}>&-
	wait "$pid"
	[ "$(cat "$out")" = "from the fifo" ]
}

# with N workers and a queue of 1, N+2 blocked reads give one 503 at once,
# with Retry-After; the others are answered as their writers close
check_a_full_queue_answers_503_at_once() {
	files_dir
	local n=2 i pids=() w start
	for i in 1 2 3 4; do mkfifo "$FILES/f$i"; done
	server_start "$BIN" -d "$FILES" -w "$n" -Q 1 0
	for i in 1 2 3; do
		http "http://127.0.0.1:$SERVER_PORT/files/f$i" \
			-o "$BATS_TEST_TMPDIR/out$i" &
		pids+=($!)
		wait_for 10 requests_read "$i"
	done
	start=$EPOCHREALTIME
	run -0 http "http://127.0.0.1:$SERVER_PORT/files/f4" -i
	[[ $output == "HTTP/1.1 503 Service Unavailable"* ]]
	[[ $output == *$'Retry-After: 1\r'* ]]
	seconds_between "$(elapsed_since "$start")" 0 2
	# f1 and f2 hold the workers, f3 waits in the queue.
	for i in 1 2 3; do
		exec {w}>"$FILES/f$i"
		printf 'fifo %s\n' "$i" >&"$w"
		exec {w}>&-
	done
	for i in 1 2 3; do
		wait "${pids[i - 1]}"
		[ "$(cat "$BATS_TEST_TMPDIR/out$i")" = "fifo $i" ]
	done
	[ "$(logged ': 503$')" -eq 1 ]
}

# a 20 MB file is served byte-exact, twice on one kept-alive connection
check_a_20_mb_file_byte_exact_over_keep_alive() {
	files_dir
	big "$FILES/big" 20
	server_start "$BIN" -q -d "$FILES" 0
	local url=http://127.0.0.1:$SERVER_PORT/files/big
	run -0 curl -sS --max-time 30 "$url" "$url" \
		-o "$BATS_TEST_TMPDIR/1" -o "$BATS_TEST_TMPDIR/2" \
		-w '%{num_connects}\n'
	[ "$output" = $'1\n0' ]
	cmp "$FILES/big" "$BATS_TEST_TMPDIR/1"
	cmp "$FILES/big" "$BATS_TEST_TMPDIR/2"
}

# GET /lookup/localhost answers 127.0.0.1, one address a line (from
# /etc/hosts: no network)
check_lookup_localhost_answers_127_0_0_1() {
	grep -qw localhost /etc/hosts || skip "localhost is not in /etc/hosts"
	server_start "$BIN" 0
	run -0 http "http://127.0.0.1:$SERVER_PORT/lookup/localhost"
	[[ $'\n'$output$'\n' == *$'\n127.0.0.1\n'* ]]
	run -0 http "http://127.0.0.1:$SERVER_PORT/lookup/127.0.0.1"
	[ "$output" = 127.0.0.1 ]
}

# hosts_openers FIFO N: open FIFO for writing N times, one after the
# other; each open lets one blocked open of it for reading go on.
hosts_openers() {
	local i
	trap '' PIPE
	for ((i = 0; i < $2; i++)); do
		: >"$1"
	done
}

# lookups run on at most half the workers: with -w 2, two lookups that
# block hold one worker, and a file is still served by the other. To
# block a lookup at will, the server runs in a mount namespace of its own
# where /etc/hosts is a FIFO: getaddrinfo's open of it waits for a
# writer. (Then glibc finds it cannot rewind a FIFO, gives up on the
# file, and the lookup ends in 404; RES_OPTIONS keeps the DNS attempt
# that follows short.) Needs root: unshare -m, mount --bind.
check_lookups_take_at_most_half_the_workers() {
	unshare -m true 2>/dev/null || skip "unshare -m needs root (CAP_SYS_ADMIN)"
	files_dir
	local hosts=$BATS_TEST_TMPDIR/hosts a b openers start
	mkfifo "$hosts"
	RES_OPTIONS='timeout:1 attempts:1' server_start unshare -m \
		sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' \
		sh "$hosts" "$BIN" -d "$FILES" -w 2 -Q 8 0
	http "http://127.0.0.1:$SERVER_PORT/lookup/a.test" -o /dev/null \
		-w '%{http_code}\n' >"$BATS_TEST_TMPDIR/a" &
	a=$!
	http "http://127.0.0.1:$SERVER_PORT/lookup/b.test" -o /dev/null \
		-w '%{http_code}\n' >"$BATS_TEST_TMPDIR/b" &
	b=$!
	wait_for 10 requests_read 2
	# One lookup is in a worker, blocked in the open of /etc/hosts; the
	# other waits in the queue. The second worker serves a file.
	start=$EPOCHREALTIME
	run -0 http "http://127.0.0.1:$SERVER_PORT/files/a.txt" --max-time 5
	[ "$output" = "hello from a file" ]
	seconds_between "$(elapsed_since "$start")" 0 2
	kill -0 "$a" && kill -0 "$b"
	hosts_openers "$hosts" 10 &
	openers=$!
	wait "$a"
	wait "$b"
	kill "$openers" 2>/dev/null || true
	wait "$openers" 2>/dev/null || true
	cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	[ "$(<"$BATS_TEST_TMPDIR/a")" = 404 ]
	[ "$(<"$BATS_TEST_TMPDIR/b")" = 404 ]
}

# GET / and GET /files/fifo pipelined in one write: Hello's answer comes
# at once, while the worker still waits for the FIFO (an answer set aside
# to go with the next one must not wait for a job); the file's follows
# once the writer closes. Needs tests/keepalive.bash (HELLO_KEPT).
check_an_answer_before_a_job_does_not_wait_for_it() {
	files_dir
	server_start "$BIN" -d "$FILES" -w 1 0
	local a w got
	connect_raw a
	printf "GET / HTTP/1.1\r\n${HOST_LINE}\r\nGET /files/fifo HTTP/1.1\r\n${HOST_LINE}Connection: close\r\n\r\n" >&"$a"
	read -r -t 5 -N "${#HELLO_KEPT}" -u "$a" got
	[ "$got" = "$HELLO_KEPT" ]
	exec {w}>"$FILES/fifo"
	printf 'from the fifo\n' >&"$w"
	exec {w}>&-
	run -0 timeout 10 cat <&"$a"
	exec {a}<&-
	[[ $output == "HTTP/1.1 200 OK"* ]]
	[[ $output == *$'Connection: close\r'* ]]
	[ "${lines[-1]}" = "from the fifo" ]
}

# a client gone (its deadline passed) while its job runs: the answer is
# dropped when the job ends, and the descriptors are back to the baseline
check_a_client_gone_mid_job_leaves_nothing() {
	files_dir
	server_start "$BIN" -t 1 -d "$FILES" -w 1 0
	local base a w
	base=$(fd_count "$SERVER_PID")
	connect_raw a
	printf 'GET /files/fifo HTTP/1.1\r\nHost: x\r\n\r\n' >&"$a"
	wait_for 10 requests_read 1
	wait_for 10 timed_out_writing
	exec {a}<&-
	exec {w}>"$FILES/fifo"
	exec {w}>&-
	wait_for 10 log_has 'a job done for a client gone: dropped'
	wait_for 10 fds_are "$base"
	# The worker is free again.
	[ "$(code_of /files/a.txt)" = 200 ]
	wait_for 10 fds_are "$base"
}

# a client that closes while its job runs is answered into the void and
# closed; the descriptors are back to the baseline
check_a_client_that_closes_mid_job_is_closed() {
	files_dir
	server_start "$BIN" -d "$FILES" -w 1 0
	local base w
	base=$(fd_count "$SERVER_PID")
	timeout 5 curl -sS --max-time 1 "http://127.0.0.1:$SERVER_PORT/files/fifo" || true
	exec {w}>"$FILES/fifo"
	printf 'late\n' >&"$w"
	exec {w}>&-
	wait_for 10 fds_are "$base"
}

# a client that resets while its job runs: the request is read and the
# job blocks on the FIFO, then one byte more and the reset (peer's -S,
# 300 ms after the request); the job's answer is dropped when it comes,
# the descriptors are back to the baseline, and the next client is served
check_a_client_that_resets_mid_job_is_closed() {
	files_dir
	server_start "$BIN" -d "$FILES" -w 1 0
	local base w req="GET /files/fifo HTTP/1.1\r\n${HOST_LINE}\r\n" n
	base=$(fd_count "$SERVER_PID")
	n=$(printf "$req" | wc -c)
	run timeout 10 "$COMMON/peer" -s "${req}G" -c "$n" -d 300 -S $((n + 1)) \
		-t 5000 "$SERVER_PORT"
	echo "$output"
	[[ $output == *"reset by us"* ]]
	requests_read 1
	exec {w}>"$FILES/fifo"
	printf 'late\n' >&"$w"
	exec {w}>&-
	wait_for 10 log_has 'a job done for a client gone: dropped'
	wait_for 10 fds_are "$base"
	alive_and_served
}

# SIGTERM with a worker blocked in a FIFO's open and a job queued: exit 0
# (under ASan: nothing leaked) within the stop's deadline
check_sigterm_with_a_blocked_worker_exits_0() {
	files_dir
	mkfifo "$FILES/fifo2"
	server_start "$BIN" -d "$FILES" -w 1 0
	local pid1 pid2 start
	http "http://127.0.0.1:$SERVER_PORT/files/fifo" -o /dev/null &
	pid1=$!
	wait_for 10 requests_read 1
	http "http://127.0.0.1:$SERVER_PORT/files/fifo2" -o /dev/null &
	pid2=$!
	wait_for 10 requests_read 2
	start=$EPOCHREALTIME
	stop SERVER 0
	seconds_between "$(elapsed_since "$start")" 0 5
	log_has 'got SIGTERM: closing 2 connections'
	wait "$pid1" || true
	wait "$pid2" || true
}

# SIGQUIT with a worker blocked on a FIFO: its connection is in flight, so
# the drain closes the idle one and waits; the writer's close completes the
# answer, and the server exits 0 (under ASan: nothing leaked). Needs
# tests/drain.bash (server_exits_0, refused).
check_sigquit_waits_for_a_blocked_worker() {
	files_dir
	server_start "$BIN" -t 10 -d "$FILES" -w 1 0
	local out=$BATS_TEST_TMPDIR/out base idle pid w line status=0
	base=$(fd_count "$SERVER_PID")
	connect_raw idle
	http "http://127.0.0.1:$SERVER_PORT/files/fifo" -o "$out" &
	pid=$!
	wait_for 10 requests_read 1
	wait_for 10 fds_are $((base + 2))
	kill -QUIT "$SERVER_PID"
	wait_for 10 log_has 'got SIGQUIT: closed 1 idle connections, draining 1'
	read -r -t 5 -u "$idle" line || status=$?
	[ "$status" -eq 1 ] # the idle one: closed, at once
	exec {idle}<&-
	refused
	# The worker still waits in the FIFO's open: the server waits too.
	exec {w}>"$FILES/fifo"
	printf 'from the fifo\n' >&"$w"
	kill -0 "$SERVER_PID"
	exec {w}>&-
	wait "$pid"
	[ "$(cat "$out")" = "from the fifo" ]
	server_exits_0
	log_matches '^drained in [0-9.]+ s$'
}

# strace -f: the worker's blocking read of the FIFO, then its write to the
# eventfd; the loop's epoll_wait returns, and the loop sends the answer
check_strace_the_worker_reads_then_writes_the_eventfd() {
	need_strace
	files_dir
	local trace=$BATS_TEST_TMPDIR/trace pid w efd status=0
	spawn_traced "$trace" -f -e trace=openat,read,write,eventfd2,sendmsg \
		-- "$BIN" -q -d "$FILES" -w 1 0
	http "http://127.0.0.1:$SERVER_PORT/files/fifo" -o "$BATS_TEST_TMPDIR/out" &
	pid=$!
	exec {w}>"$FILES/fifo"
	printf 'strace\n' >&"$w"
	exec {w}>&-
	wait "$pid"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = strace ]
	# stop_traced, but strace -f may be gone (and reaped) before stop's
	# kill reaches it: wait for it and check its status instead.
	wait_for 10 tracee_idle
	kill -TERM "$TRACEE_PID"
	TRACEE_PID=
	wait "$SERVER_PID" || status=$?
	SERVER_PID=
	[ "$status" -eq 0 ]
	efd=$(grep -o 'eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = [0-9]*' "$trace" | grep -o '[0-9]*$')
	[ -n "$efd" ]
	# One thread opens the FIFO, reads it, and writes the eventfd; another
	# (the loop) sends the answer.
	run -0 awk -v efd="$efd" '
		/openat\(.*"fifo"/ { reader = $1 }
		reader != "" && $1 == reader && /read\(.*"strace\\n"/ { got = 1 }
		got && $1 == reader && index($0, "write(" efd ", ") { woke = 1 }
		woke && $1 != reader && /sendmsg\(.*strace/ { sent = 1 }
		END { exit !(sent) }
	' "$trace"
}
