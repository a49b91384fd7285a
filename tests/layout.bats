#!/usr/bin/env bats
# The shape of the repository: each chapter is the previous one plus one idea.
# A chapter's diff stays small enough to read, its page short enough to
# finish, and a module whose lesson is done is carried unchanged, so that
# `make diff CH=NN` shows the idea and nothing else.

load helper

# added PREV NEXT: the non-blank lines `make diff` shows as added.
added() {
	diff -ruN -X "$COMMON/diff-exclude" "$TOP/chapters/$1" "$TOP/chapters/$2" |
		grep '^+' | grep -v '^+++ ' | grep -cv '^+[[:space:]]*$'
}

@test "from 06 to 13, a chapter adds at most 900 non-blank lines" {
	local prev="" d n base bad=0
	for d in "$TOP"/chapters/[0-9][0-9]-*/; do
		d=$(basename "$d")
		base=$(sed -n 's/^BUILDS_ON *= *//p' "$TOP/chapters/$d/Makefile")
		[ -z "$base" ] || prev=$base
		if [ -n "$prev" ] && [ "${d%%-*}" -ge 6 ] && [ "${d%%-*}" -le 13 ]; then
			n=$(added "$prev" "$d")
			echo "$d: $n"
			[ "$n" -le 900 ] || { echo "$d adds $n lines to $prev"; bad=1; }
		fi
		prev=$d
	done
	[ "$bad" -eq 0 ]
}

@test "every chapter page is under 7,000 words" {
	local p n bad=0
	for p in "$TOP"/book/[0-9][0-9]-*.md; do
		n=$(wc -w <"$p")
		[ "$n" -lt 7000 ] || { echo "$(basename "$p"): $n words"; bad=1; }
	done
	[ "$bad" -eq 0 ]
}

# A module and the chapter whose lesson finishes it: from there on, every
# chapter that has the file carries it byte-identical.
SETTLED=(
	ffi.h:02-events
	net.h:04-accept
	slab.c:06-reading slab.h:06-reading
	http.c:08-limits http.h:08-limits
	chunked.c:08-limits chunked.h:08-limits
	timer.c:09-deadlines timer.h:09-deadlines
	stop.c:10-shutdown stop.h:10-shutdown
)

@test "a module whose lesson is done is carried byte-identical" {
	local m file from d bad=0
	for m in "${SETTLED[@]}"; do
		file=${m%%:*} from=${m#*:}
		[ -f "$TOP/chapters/$from/$file" ] || { echo "no chapters/$from/$file"; bad=1; continue; }
		for d in "$TOP"/chapters/[0-9][0-9]-*/; do
			d=$(basename "$d")
			[[ $d > $from ]] && [ -f "$TOP/chapters/$d/$file" ] || continue
			cmp -s "$TOP/chapters/$from/$file" "$TOP/chapters/$d/$file" ||
				{ echo "chapters/$d/$file differs from chapters/$from/$file"; bad=1; }
		done
	done
	[ "$bad" -eq 0 ]
}
