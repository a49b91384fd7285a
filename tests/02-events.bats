#!/usr/bin/env bats
# Chapter 02: what repeated epoll_wait calls report, mode by mode. Every wait
# in the demo has a timeout of 0, so each transcript is fixed: the tests
# compare the whole output, line by line and space by space.

load helper

BIN=$TOP/chapters/02-events/demo

setup_file() {
	[ -x "$BIN" ] || {
		echo "no $BIN: build it first (make -C chapters/02-events)" >&2
		return 1
	}
}

# same_as: $output must equal stdin exactly; on a difference, show a diff.
same_as() {
	local want
	want=$(cat)
	if [ "$output" != "$want" ]; then
		diff -u <(printf '%s\n' "$want") <(printf '%s\n' "$output")
		return 1
	fi
}

@test "level-triggered reports readable data at every wait until it is drained" {
	run -0 "$BIN" level
	same_as <<'EOF'
== level-triggered (the default)
ADD read end for EPOLLIN, token 42
write 5 bytes
wait 1: token 42 EPOLLIN
wait 2: token 42 EPOLLIN                     (still unread: reported again)
read 2 bytes
wait 3: token 42 EPOLLIN                     (3 bytes left: reported again)
read 3 bytes
wait 4: nothing                              (drained: not ready any more)
EOF
}

@test "edge-triggered reports once per arrival and stays silent about leftovers" {
	run -0 "$BIN" edge
	same_as <<'EOF'
== edge-triggered (EPOLLET)
ADD read end for EPOLLIN|EPOLLET, token 42
write 5 bytes
wait 1: token 42 EPOLLIN
wait 2: nothing                              (5 bytes unread, but no news)
write 3 bytes
wait 3: token 42 EPOLLIN                     (new bytes arrived: an edge)
read 4 bytes
wait 4: nothing                              (4 bytes left, and no word of it)
read 4 bytes
read: EAGAIN, drained
wait 5: nothing
EOF
}

@test "one-shot reports once, ignores arrivals, and MOD re-arms it at once" {
	run -0 "$BIN" oneshot
	same_as <<'EOF'
== one-shot (EPOLLONESHOT)
ADD read end for EPOLLIN|EPOLLONESHOT, token 42
write 5 bytes
wait 1: token 42 EPOLLIN
wait 2: nothing                              (disarmed after one report)
write 3 bytes
wait 3: nothing                              (still disarmed)
MOD read end for EPOLLIN|EPOLLONESHOT, token 42
wait 4: token 42 EPOLLIN                     (re-armed, and data is waiting)
wait 5: nothing                              (disarmed again)
read 8 bytes
EOF
}

@test "a pipe whose writer closed reports EPOLLHUP unasked, until DEL" {
	run -0 "$BIN" hup
	same_as <<'EOF'
== hang-up on a pipe (EPOLLHUP)
ADD read end for EPOLLIN, token 42
write 5 bytes
close the write end
wait 1: token 42 EPOLLIN|EPOLLHUP            (data left, and no writer)
read 5 bytes
read 0 bytes: end of file
wait 2: token 42 EPOLLHUP                    (HUP alone: nothing to read)
wait 3: token 42 EPOLLHUP                    (at every wait, until DEL or close)
DEL read end
wait 4: nothing
EOF
}

@test "a socket's peer half-close reports EPOLLRDHUP, and its close EPOLLHUP" {
	run -0 "$BIN" rdhup
	same_as <<'EOF'
== peer half-close on a socket (EPOLLRDHUP)
ADD our end for EPOLLIN|EPOLLRDHUP, token 42
peer: write 5 bytes
peer: shutdown(SHUT_WR)
wait 1: token 42 EPOLLIN|EPOLLRDHUP          (data, then the end of it)
read 5 bytes
read 0 bytes: end of file
wait 2: token 42 EPOLLIN|EPOLLRDHUP          (half-closed: still readable)
write 5 bytes
peer: read 5 bytes
peer: close
wait 3: token 42 EPOLLIN|EPOLLHUP|EPOLLRDHUP (both halves closed)
EOF
}

@test "EPOLLOUT is reported whenever there is room, and EPOLLERR without a reader" {
	run -0 "$BIN" out
	# How much a pipe holds is the system's business (64 KiB by default);
	# the demo must fill it and then read back exactly as much.
	local full='^write until EAGAIN: ([1-9][0-9]*) bytes, the pipe is full$'
	[[ ${lines[4]} =~ $full ]] || {
		echo "# not a fill line: ${lines[4]}"
		return 1
	}
	local n=${BASH_REMATCH[1]}
	same_as <<EOF
== writable (EPOLLOUT)
ADD write end for EPOLLOUT, token 43
wait 1: token 43 EPOLLOUT                    (an empty pipe has room)
wait 2: token 43 EPOLLOUT                    (and still has: at every wait)
write until EAGAIN: $n bytes, the pipe is full
wait 3: nothing                              (no room)
read until EAGAIN: $n bytes, the pipe is empty
wait 4: token 43 EPOLLOUT                    (room again)
close the read end
wait 5: token 43 EPOLLOUT|EPOLLERR           (no reader: writing would fail)
EOF
}

@test "all runs every mode in order, separated by blank lines" {
	local mode want=""
	for mode in level edge oneshot hup rdhup out; do
		run -0 "$BIN" "$mode"
		want+=${want:+$'\n\n'}$output
	done
	run -0 "$BIN" all
	same_as <<<"$want"
}

@test "no mode, an unknown mode or an extra argument is a usage error" {
	local args
	for args in "" "sideways" "level level"; do
		# shellcheck disable=SC2086 # word splitting makes the argv
		run -2 --separate-stderr "$BIN" $args
		[ "$stderr" = "usage: demo level|edge|oneshot|hup|rdhup|out|all" ]
		[ -z "$output" ]
	done
}

@test "strace: one-shot is re-armed by EPOLL_CTL_MOD, and only then reported again" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	# aarch64 has no epoll_wait system call: glibc uses epoll_pwait there.
	run -0 traced strace -o "$trace" \
		-e trace=epoll_ctl,epoll_wait,epoll_pwait "$BIN" oneshot
	# The MOD call as the kernel sees it.
	grep -E 'epoll_ctl\([0-9]+, EPOLL_CTL_MOD, [0-9]+, \{events=EPOLLIN\|EPOLLONESHOT,' "$trace"
	# The sequence: ADD, one report, two empty waits, MOD, one report, one
	# empty wait. A MOD in the wrong place, or none, changes it.
	run -0 sed -nE \
		-e 's/^epoll_ctl\([0-9]+, (EPOLL_CTL_[A-Z]+),.*\) += 0$/\1/p' \
		-e 's/^epoll_p?wait\(.*\) += ([0-9]+)$/wait=\1/p' "$trace"
	same_as <<'EOF'
EPOLL_CTL_ADD
wait=1
wait=0
wait=0
EPOLL_CTL_MOD
wait=1
wait=0
EOF
}

@test "strace: each mode creates its own EPOLL_CLOEXEC instance and closes every fd it opens" {
	need_strace
	local trace=$BATS_TEST_TMPDIR/trace
	run -0 traced strace -o "$trace" \
		-e trace=epoll_create1,pipe2,socketpair,close "$BIN" all
	run -0 grep -cE '^epoll_create1\(EPOLL_CLOEXEC\) += [0-9]+$' "$trace"
	[ "$output" -eq 6 ]
	# From the first epoll instance on, every descriptor made is closed
	# once. (Earlier closes belong to the dynamic loader.)
	local opened closed
	opened=$(sed -nE '/^epoll_create1/,$ {
		s/^epoll_create1\(.*\) += ([0-9]+)$/\1/p
		s/^(pipe2|socketpair)\(.*\[([0-9]+), ([0-9]+)\].* = 0$/\2\n\3/p
	}' "$trace" | sort -n)
	closed=$(sed -nE '/^epoll_create1/,$ s/^close\(([0-9]+)\) += 0$/\1/p' \
		"$trace" | sort -n)
	[ -n "$opened" ]
	[ "$opened" = "$closed" ]
}
