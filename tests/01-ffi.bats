#!/usr/bin/env bats
# Chapter 01: epoll declared by hand. The demo registers stdin under token 42
# and waits once; these tests feed it pipes that speak, stay silent or hang
# up, hand it a regular file, stop it mid-wait, watch its system calls, and
# prove that ffi.h agrees with <sys/epoll.h> (and that the proof can fail).

# shellcheck disable=SC2154 # bats' run sets stderr and stderr_lines
load helper

BIN=$TOP/chapters/01-ffi/demo
FFI=$TOP/chapters/01-ffi/ffi.h

setup_file() {
	[ -x "$BIN" ] || {
		echo "no $BIN: build it first (make -C chapters/01-ffi)" >&2
		return 1
	}
}

teardown() {
	# A demo left running by a failed test.
	if [ -n "${DEMO_PID:-}" ]; then
		kill -KILL "$DEMO_PID" 2>/dev/null
		wait "$DEMO_PID" 2>/dev/null
	fi
	stop_all
}

# ms: wall-clock time in milliseconds.
ms() {
	local t=${EPOCHREALTIME/[.,]/}
	echo $((10#$t / 1000))
}

# silent_pipe: open a named pipe for reading and writing on fd $PIPE_FD and
# set PIPE to its path. Whoever reads it waits: the writer (us) stays open
# and says nothing until a test writes to fd $PIPE_FD.
silent_pipe() {
	PIPE=$BATS_TEST_TMPDIR/stdin
	mkfifo "$PIPE"
	exec {PIPE_FD}<>"$PIPE"
}

# demo_start ARGS...: run the demo in the background on the silent pipe;
# sets DEMO_PID, and OUT to the file holding its stdout and stderr.
demo_start() {
	OUT=$BATS_TEST_TMPDIR/demo.out
	"$BIN" "$@" <"$PIPE" >"$OUT" 2>&1 3>&- {PIPE_FD}>&- &
	DEMO_PID=$!
}

# demo_wait: wait for the background demo to end; sets status and output.
demo_wait() {
	wait "$DEMO_PID"
	status=$?
	DEMO_PID=
	output=$(<"$OUT")
}

# in_epoll_wait PID: the process is asleep inside epoll_wait(2).
in_epoll_wait() {
	local wchan state
	wchan=$(cat "/proc/$1/wchan" 2>/dev/null)
	case $wchan in
	*epoll*) return 0 ;;
	'' | 0)
		# wchan is hidden here: asleep after announcing the wait
		# means asleep in it, since nothing else can block.
		state=$(cat "/proc/$1/stat" 2>/dev/null)
		state=${state##*) }
		grep -q '^waiting up to' "$OUT" && [ "${state%% *}" = S ]
		;;
	*) return 1 ;;
	esac
}

# ffi_check HEADER_DIR: build the ffi check against HEADER_DIR/ffi.h into
# $BATS_TEST_TMPDIR/ffi_check.
ffi_check() {
	cc -std=gnu11 -Wall -Wextra -Werror -I "$1" "$COMMON/ffi_ours.c" \
		"$COMMON/ffi_check.c" -o "$BATS_TEST_TMPDIR/ffi_check"
}

# bad_copy SED_SCRIPT: ffi.h with SED_SCRIPT applied, in a directory of its
# own whose path is printed. Fails if the script changed nothing.
bad_copy() {
	local dir=$BATS_TEST_TMPDIR/bad
	mkdir -p "$dir"
	sed "$1" "$FFI" >"$dir/ffi.h"
	if cmp -s "$FFI" "$dir/ffi.h"; then
		echo "bad_copy: '$1' did not change ffi.h" >&2
		return 1
	fi
	echo "$dir"
}

@test "piped input is reported under token 42, not fd 0, then read" {
	run -0 timeout 10 "$BIN" 5000 < <(printf 'hello\n')
	[ "${lines[1]}" = "watching stdin (fd 0) for EPOLLIN under token 42" ]
	# The writer may already have hung up too: EPOLLHUP may come along.
	[[ ${lines[3]} =~ ^"ready: token 42, events EPOLLIN"(\|EPOLLHUP)?$ ]]
	[ "${lines[4]}" = "read 6 bytes" ]
	[ "${#lines[@]}" -eq 5 ]
}

@test "input that arrives during the wait wakes it at once" {
	silent_pipe
	local start took
	start=$(ms)
	demo_start 5000
	wait_for 10 in_epoll_wait "$DEMO_PID"
	printf 'hi\n' >&"$PIPE_FD"
	demo_wait
	took=$(($(ms) - start))
	echo "$output"
	[ "$status" -eq 0 ]
	# Our end is still open: readable, and no hang-up.
	[[ $output == *$'\nready: token 42, events EPOLLIN\nread 3 bytes' ]]
	[ "$took" -lt 2500 ] || { echo "took $took ms"; false; }
}

@test "a silent pipe times out after the requested time, not sooner or later" {
	silent_pipe
	local start took
	start=$(ms)
	run -0 timeout 10 "$BIN" 300 <"$PIPE"
	took=$(($(ms) - start))
	[ "${lines[2]}" = "waiting up to 300 ms..." ]
	[ "${lines[3]}" = "timed out after 300 ms: nothing to read" ]
	[ "${#lines[@]}" -eq 4 ]
	[ "$took" -ge 300 ] && [ "$took" -lt 2000 ] || { echo "took $took ms"; false; }
}

@test "a writer that hangs up without writing gives EPOLLHUP and end of input" {
	run -0 timeout 10 "$BIN" 5000 < <(:)
	[ "${lines[3]}" = "ready: token 42, events EPOLLHUP" ]
	[ "${lines[4]}" = "read: end of input" ]
}

@test "stopped and continued mid-wait (Ctrl-Z, fg): keeps waiting, same deadline" {
	# epoll_wait fails with EINTR after SIGSTOP+SIGCONT even without a
	# handler (signal(7)). Dying on it, or restarting the full timeout,
	# are the two bugs this catches.
	silent_pipe
	local start took
	start=$(ms)
	demo_start 1000
	wait_for 10 in_epoll_wait "$DEMO_PID"
	kill -STOP "$DEMO_PID"
	sleep 0.8 # how long it stays stopped: the stimulus, not a readiness check
	kill -CONT "$DEMO_PID"
	demo_wait
	took=$(($(ms) - start))
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *$'\ntimed out after 1000 ms: nothing to read' ]]
	[[ $output != *Interrupted* ]]
	# A restarted timeout would end past 1.8 s (0.8 s stopped, then 1 s).
	[ "$took" -ge 1000 ] && [ "$took" -lt 1750 ] || { echo "took $took ms"; false; }
}

@test "a regular file on stdin: EPERM, explained, exit 1, no wait" {
	run -1 --separate-stderr timeout 10 "$BIN" 5000 <"$BATS_TEST_FILENAME"
	[ "${stderr_lines[0]}" = "epoll_ctl(EPOLL_CTL_ADD, stdin): Operation not permitted" ]
	[[ $stderr == *"stdin is a regular file"*"never has to wait"* ]]
	[[ $stderr == *"cat FILE | ./demo"* ]]
	# It created the instance, then stopped: no "watching", no "waiting".
	[[ $output =~ ^"epoll instance: fd "[0-9]+$ ]]
}

@test "bad arguments: a usage line on stderr, exit 2, nothing else" {
	local args
	for args in abc '' -2 12x 99999999999 '1 2'; do
		# shellcheck disable=SC2086 # '1 2' is meant to be two arguments
		run -2 --separate-stderr "$BIN" ${args:-""}
		[[ $stderr == "usage: demo [TIMEOUT_MS]"* ]] || { echo "args: '$args'"; false; }
		[ -z "$output" ]
	done
}

@test "strace shows epoll_create1, epoll_ctl with token 42, epoll_wait, close" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced timeout 10 strace -o "$trace" \
		-e trace=epoll_create1,epoll_ctl,epoll_wait,epoll_pwait,close \
		"$BIN" 5000 < <(printf 'hi\n')
	local fd=${lines[0]#epoll instance: fd }
	cat "$trace"
	grep -Eq "^epoll_create1\(EPOLL_CLOEXEC\) += $fd$" "$trace"
	grep -Eq "^epoll_ctl\($fd, EPOLL_CTL_ADD, 0, \{(events=)?EPOLLIN, (data=)?\{u32=42, u64=42\}\}\) += 0$" "$trace"
	# glibc calls epoll_pwait where the kernel has no epoll_wait (aarch64).
	grep -Eq "^epoll_p?wait\($fd, \[\{(events=)?EPOLLIN(\|EPOLLHUP)?, (data=)?\{u32=42, u64=42\}\}\], 8, 5000(, NULL, 8)?\) += 1$" "$trace"
	grep -Eq "^close\($fd\) += 0$" "$trace"
}

@test "an EINTR from epoll_wait is retried, not reported (strace injects it)" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced timeout 10 strace -o "$trace" \
		-e trace=epoll_wait,epoll_pwait \
		-e inject=epoll_wait,epoll_pwait:error=EINTR:when=1 \
		"$BIN" 5000 < <(printf 'hi\n')
	cat "$trace"
	[[ ${lines[3]} =~ ^"ready: token 42, events EPOLLIN"(\|EPOLLHUP)?$ ]]
	[ "${lines[4]}" = "read 3 bytes" ]
	# The injected failure, then the retry that got the event.
	[ "$(grep -c '^epoll_p\?wait(' "$trace")" -eq 2 ]
	grep -q '= -1 EINTR .*(INJECTED)$' "$trace"
}

@test "ffi.h agrees with <sys/epoll.h> on every constant, the size and the offsets" {
	ffi_check "$TOP/chapters/01-ffi"
	run -0 "$BATS_TEST_TMPDIR/ffi_check"
	local name
	for name in EPOLL_CLOEXEC EPOLL_CTL_ADD EPOLLIN EPOLLOUT EPOLLERR \
		EPOLLHUP 'sizeof(struct event)' 'offsetof(events)' \
		'offsetof(data)' 'sizeof(events)' 'sizeof(data)'; do
		grep -Eq "^${name//[()]/.} +ours (0x)?[0-9a-f]+ +system (0x)?[0-9a-f]+ +ok$" <<<"$output" ||
			{ echo "no ok line for $name"; false; }
	done
	[ "${#lines[@]}" -eq 11 ]
}

@test "the ffi check catches a wrong constant" {
	local dir
	dir=$(bad_copy 's/^#define EPOLLIN 0x001u/#define EPOLLIN 0x002u/')
	ffi_check "$dir"
	run -1 "$BATS_TEST_TMPDIR/ffi_check"
	[[ $output =~ (^|$'\n')"EPOLLIN "+"ours 0x2 "+"system 0x1 "+"DIFFERENT"($'\n'|$) ]]
}

@test "wrong packing does not compile: ffi.h's static asserts refuse it" {
	local dir
	# Pack on every architecture but the one that needs it.
	dir=$(bad_copy '0,/^#if defined(__x86_64__)$/s//#if !defined(__x86_64__)/')
	run ! cc -std=gnu11 -fsyntax-only -I "$dir" "$COMMON/ffi_ours.c"
	[[ $output == *"packed on x86_64"* || $output == *"natural alignment on aarch64"* ]]
}

@test "wrong packing without the static asserts: the ffi check still catches it" {
	local dir
	dir=$(bad_copy '0,/^#if defined(__x86_64__)$/s//#if !defined(__x86_64__)/; /_Static_assert/d')
	ffi_check "$dir"
	run -1 "$BATS_TEST_TMPDIR/ffi_check"
	[[ $output =~ (^|$'\n')"sizeof(struct event) "+"ours "[0-9]+" "+"system "[0-9]+" "+"DIFFERENT" ]]
	[[ $output =~ (^|$'\n')"offsetof(data) "+"ours "[0-9]+" "+"system "[0-9]+" "+"DIFFERENT" ]]
}
