#!/usr/bin/env bats
# Chapter 08: what a request may be. A head over 8 KiB is 431 (a request
# line alone that long, 414), a body over -b is 413 (before it is read when
# Content-Length says so), a bad Content-Length or Transfer-Encoding gets
# its 400 or 501, and chunked bodies are decoded within the same limit.
# RFC 9112's rules: one valid Host in every HTTP/1.1 request, absolute-form
# targets served by their path, chunked the last transfer coding.
# The parser and the chunked decoder are tested on their own too, at every
# split point (common/http_test.c); `make fuzz CH=08` fuzzes the parser.

load helper
load http
load defenses

DIR=$TOP/chapters/08-limits
BIN=$DIR/server

@test "a bad command line gets a usage line and status 2" {
	refuses_with_usage "usage: server [-q] [-b BYTES] [PORT]" \
		-x abc 65536 "8000 9000" "-t 5" \
		"-b -1" "-b 1073741825" "-b 1k" -b
}

@test "limits: a head over 8 KiB gets 431 (a request line alone, 414), one just under is served" {
	check_limits_a_head_over_8_kib_gets 1.1
}

@test "limits: each bad Content-Length or Transfer-Encoding gets its status, whole" {
	check_limits_each_bad_content_length_or_transfer
}

@test "chunked bodies are decoded, up to -b bytes exactly" {
	check_chunked_bodies_are_decoded_up_to_b
}

@test "a 10 MB POST /echo under -b comes back byte for byte, read far more than 4 KB per wakeup" {
	check_a_10_mb_post_echo_under_b
}

@test "an upload with Expect: 100-continue gets 100 Continue, and over -b a 413 instead" {
	check_an_upload_with_expect_100_continue_gets
}

@test "a client that resets mid-request, or leaves mid-body, is closed and the next one served" {
	check_a_client_that_resets_mid_request_or
}

# The parser's own tests, and the chunked decoder's.
#
# common/http_test.c holds the cases, one line each; every case runs at
# every split point with a guard page after the input. Here it is compiled
# against the chapter's http.c (and chunked.c), with the warnings of
# common.mk and, when the suite runs against sanitizer builds (SANITIZED is
# set), with ASan+UBSan.

HTTP_CH=$TOP/chapters/08-limits

@test "the parser gives every request case its answer at every split point" {
	check_the_parser_gives_every_request_case_its
}

@test "the parser reports a wrong answer and exits 1" {
	check_the_parser_reports_a_wrong_answer_and
}

@test "the chunked decoder gives every case its answer at every split point" {
	check_the_chunked_decoder_gives_every_case_its
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
