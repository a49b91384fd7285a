#!/usr/bin/env bats
# Chapter 09: deadlines. One timer queue holds every connection's deadline:
# a request must arrive whole within -t of the accept, however slowly its
# bytes trickle in (slowloris); a response must make progress every -t.
# The wait sleeps until the nearest deadline, never longer, and never
# spins. After each attack: the server alive, its descriptors back to the
# baseline.

load helper
load http
load defenses

DIR=$TOP/chapters/09-deadlines
BIN=$DIR/server

@test "a bad command line gets a usage line and status 2" {
	check_a_bad_command_line_gets_a_usage
}

@test "slowloris: one byte every 500 ms is cut off at the 5 s request deadline" {
	check_slowloris_one_byte_every_500_ms_is
}

@test "a slow body after a fast head is cut off at the same request deadline" {
	check_a_slow_body_after_a_fast_head
}

@test "an idle connection is closed after -t, and the server idles meanwhile" {
	check_an_idle_connection_is_closed_after_t
}

@test "a reader that stops reading is closed after -t without progress" {
	check_a_reader_that_stops_reading_is_closed
}

@test "a slow but live reader of 50 MB outlasts -t: progress extends the write deadline" {
	check_50_mb_reach_a_slow_reader 2 '' -t 2
}

@test "strace: the wait sleeps until the nearest deadline, rounded up, and never spins" {
	check_strace_the_wait_sleeps_until_the_nearest
}

@test "-q silences every per-request line" {
	check_q_silences_every_per_request_line
}

# RFC 9112: Host, absolute-form targets, the final transfer coding (#10).

@test "Host: an HTTP/1.1 request without it, any with two, or with an invalid one gets 400 and the close; HTTP/1.0 may leave it out" {
	check_host_missing_twice_or_invalid_gets_400
}

@test "an absolute-form target (http://host/path) is served by its path, whatever Host says" {
	check_an_absolute_form_target_is_served_by_its
}

@test "Transfer-Encoding whose last coding is not chunked gets 400 and the close; another coding before chunked, 501" {
	check_transfer_encoding_not_ending_in_chunked
}
