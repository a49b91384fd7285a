# tests/http.bash: what the suites of the HTTP server chapters (05 on)
# share, on top of helper.bash. Load it after it:
#
#	load helper
#	load http
#
# A suite sets BIN (the server) and, for the parser tests, HTTP_CH (the
# chapter whose http.c is compiled).

# refuses_with_usage USAGE ARGS...: the server ($BIN) refuses each ARGS (one
# word, split at spaces) with status 2 and USAGE as the last line of stderr
# (getopt may say what was wrong first).
refuses_with_usage() {
	local usage=$1 args
	shift
	for args in "$@"; do
		# shellcheck disable=SC2086 # split on purpose
		run -2 --separate-stderr timeout 10 "$BIN" $args
		[[ ${stderr##*$'\n'} == "$usage"* ]] ||
			{ echo "'$args': $stderr"; return 1; }
	done
}

# The body of GET /bytes/N is N bytes of this line, over and over.
PATTERN_LINE=0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-

# pattern N: the body GET /bytes/N must send.
pattern() {
	yes "$PATTERN_LINE" | head -c "$1"
}

# The Host line every HTTP/1.1 request needs from chapter 08 on (RFC 9112
# section 3.2), in peer's escapes: "GET / HTTP/1.1\r\n${HOST_LINE}\r\n".
HOST_LINE='Host: x\r\n'

# ask BYTES: send BYTES (peer's escapes: \r \n) on a new connection, print
# what comes back, and fail unless the server closed the connection itself.
ask() {
	timeout 20 "$COMMON/peer" -s "$1" "$SERVER_PORT"
}

# peer_length BYTES: how many bytes peer sends for BYTES (\r and \n are one).
peer_length() {
	local s=${1//\\r/r}
	s=${s//\\n/n}
	echo "${#s}"
}

# alive_and_served: the server still answers GET / with Hello.
alive_and_served() {
	run -0 http "http://127.0.0.1:$SERVER_PORT/"
	[ "$output" = Hello ]
}

# head_of RESPONSE: the status line and headers, CRs dropped, one per line.
head_of() {
	local h=${1%%$'\r\n\r\n'*}
	printf '%s\n' "${h//$'\r'/}"
}

# whole_response STATUS: $output (from ask) is one response with this
# status, Connection: close, and exactly Content-Length bytes of body. (Each
# check returns: called as `whole_response ... || ...`, set -e is off.)
whole_response() {
	local len body
	[[ ${lines[0]} == "HTTP/1.1 $1 "* ]] ||
		{ echo "got '${lines[0]}', want $1"; return 1; }
	[[ $output == *$'\r\nConnection: close\r\n'* ]] ||
		{ echo "no Connection: close in: $output"; return 1; }
	len=$(sed -n 's/^Content-Length: \([0-9]*\)\r$/\1/p' <<<"$output")
	body=${output#*$'\r\n\r\n'}
	[ "${#body}" -eq "$len" ] || { echo "body '$body', length $len"; return 1; }
}

# answered_whole CASE...: each CASE, "STATUS|BYTES", is sent (ask) on its own
# connection and answered with one whole response of that STATUS (see
# whole_response), and the server closes the connection.
answered_whole() {
	local c
	for c in "$@"; do
		run -0 --separate-stderr ask "${c#*|}"
		whole_response "${c%%|*}" || { echo "for: ${c#*|}"; return 1; }
	done
}

# peer_ms: the time on peer's summary line (the last line of $stderr).
peer_ms() {
	[[ ${stderr_lines[-1]} =~ \ after\ ([0-9]+)\ ms$ ]] ||
		{ echo "no time in: ${stderr_lines[-1]}" >&2; return 1; }
	echo "${BASH_REMATCH[1]}"
}

# log_matches ERE: some line of the server's log matches the whole ERE.
log_matches() {
	grep -qxE -- "$1" "$(log_of SERVER)"
}

# http_test_build [CFLAGS...]: compile http_test against $HTTP_CH into
# $BATS_TEST_TMPDIR/http_test, with the extra flags and sources given.
http_test_build() {
	local san=()
	if [ -n "${SANITIZED:-}" ]; then
		san=(-fsanitize=address,undefined -fno-omit-frame-pointer
			-fno-sanitize-recover=all)
	fi
	"${CC:-cc}" -std=c11 -Wall -Wextra -Wpedantic -Wshadow \
		-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith \
		-Wcast-qual -Wwrite-strings -Wvla -Wformat=2 -Wundef -Werror \
		-O1 -g "${san[@]}" -I "$HTTP_CH" \
		-o "$BATS_TEST_TMPDIR/http_test" \
		"$COMMON/http_test.c" "$HTTP_CH/http.c" "$@"
}

# summary_ok: the last line reports cases, split points and no failure.
summary_ok() {
	local re
	re='^http_test: ([0-9]+) cases, ([0-9]+) split points, 0 failures$'
	if ! [[ ${lines[-1]} =~ $re ]]; then
		echo "unexpected summary: ${lines[-1]}"
		return 1
	fi
	# Guard against a table that silently lost its rows.
	if [ "${BASH_REMATCH[1]}" -lt 100 ] || [ "${BASH_REMATCH[2]}" -lt 4000 ]
	then
		echo "too few cases or split points: ${lines[-1]}"
		return 1
	fi
}
