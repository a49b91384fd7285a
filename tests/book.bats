#!/usr/bin/env bats
# The book: listings match the source, links resolve, chapters and pages
# correspond, and every chapter page has the parts its template asks for.

load helper

# pages: every chapter page; fails (and so fails the test) when there is none.
pages() {
	compgen -G "$TOP/book/[0-9][0-9]-*.md" | sort
}

@test "every listing in the book matches its anchored source region" {
	run -0 "$COMMON/mdlisting" --check "$TOP"/book/*.md
}

@test "mdlisting catches a listing that differs from its source" {
	# The check above is only worth something if it can fail.
	local md=$BATS_TEST_TMPDIR/page.md
	printf '%s\n' '<!-- listing: common/mdlisting -->' '```bash' 'stale' '```' >"$md"
	run -1 "$COMMON/mdlisting" --check "$md"
	[[ $output == *"differs from its source"* ]]
	printf '%s\n' '<!-- listing: common/nonexistent.c -->' '```c' '```' >"$md"
	run -1 "$COMMON/mdlisting" --check "$md"
	[[ $output == *"no such file"* ]]
	printf '%s\n' '<!-- listing: common/mdlisting nosuchanchor -->' '```c' '```' >"$md"
	run -1 "$COMMON/mdlisting" --check "$md"
	[[ $output == *"no anchor"* ]]
}

@test "mdlisting fills a diff listing and catches a stale one" {
	local md=$BATS_TEST_TMPDIR/page.md
	# 05's server.c differs from 04's: the block becomes a unified diff
	# whose labels name both chapters.
	printf '%s\n' '<!-- diff: chapters/05-oneshot-http/server.c -->' '```diff' '```' >"$md"
	run -0 "$COMMON/mdlisting" "$md"
	run -0 grep -qx -- '--- chapters/04-accept/server.c' "$md"
	run -0 grep -qx -- '+++ chapters/05-oneshot-http/server.c' "$md"
	run -0 grep -q '^+.*chapter 05' "$md"
	run -0 "$COMMON/mdlisting" --check "$md"
	# A stale block is caught like a stale listing.
	printf '%s\n' '<!-- diff: chapters/05-oneshot-http/server.c -->' '```diff' 'stale' '```' >"$md"
	run -1 "$COMMON/mdlisting" --check "$md"
	[[ $output == *"differs from its source"* ]]
	# The first chapter has nothing to differ from.
	printf '%s\n' '<!-- diff: chapters/00-blocking/server.c -->' '```diff' '```' >"$md"
	run -1 "$COMMON/mdlisting" --check "$md"
	[[ $output == *"no chapter before"* ]]
}

@test "every relative link in the book and the READMEs resolves" {
	local md link target bad=0
	for md in "$TOP"/README.md "$TOP"/book/*.md; do
		# Inline links [text](target); external and in-page ones are skipped.
		while IFS= read -r link; do
			target=${link%%#*}
			[ -n "$target" ] || continue
			case $target in
			http://* | https://* | mailto:*) continue ;;
			esac
			if [ ! -e "$(dirname "$md")/$target" ]; then
				echo "${md#"$TOP"/}: broken link: $link"
				bad=1
			fi
		done < <(grep -o '\]([^) ]*)' "$md" | sed 's/^](//; s/)$//')
	done
	[ "$bad" -eq 0 ]
}

@test "every chapter has a book page and every page a chapter" {
	local d p bad=0
	for d in "$TOP"/chapters/[0-9][0-9]-*/; do
		d=$(basename "$d")
		[ -f "$TOP/book/$d.md" ] || { echo "no book/$d.md"; bad=1; }
	done
	for p in $(pages); do
		p=$(basename "$p" .md)
		[ -d "$TOP/chapters/$p" ] || { echo "book/$p.md has no chapters/$p"; bad=1; }
	done
	[ "$bad" -eq 0 ]
}

@test "the contents and the README link every chapter page and directory" {
	local p name bad=0
	pages >/dev/null
	for p in $(pages); do
		name=$(basename "$p" .md)
		grep -q "($name.md)" "$TOP/book/README.md" || { echo "book/README.md lacks $name.md"; bad=1; }
		grep -q "(book/$name.md)" "$TOP/README.md" || { echo "README.md lacks book/$name.md"; bad=1; }
		grep -q "(chapters/$name/)" "$TOP/README.md" || { echo "README.md lacks chapters/$name/"; bad=1; }
	done
	[ "$bad" -eq 0 ]
}

@test "every chapter page has a diagram, listings, output, a trace and exercises" {
	local p bad=0 part
	pages >/dev/null
	for p in $(pages); do
		grep -qE -- '<!-- (listing|diff): ' "$p" || { echo "$(basename "$p"): no listing"; bad=1; }
		for part in '```mermaid' '## Run it' \
			'## What the kernel sees' '## What can go wrong' '## Exercises'; do
			grep -qF -- "$part" "$p" || { echo "$(basename "$p"): no $part"; bad=1; }
		done
	done
	[ "$bad" -eq 0 ]
}

@test "the book cites no line numbers" {
	# Prose names functions; line numbers rot with every edit.
	run ! grep -nE '\b[Ll]ines? [0-9]+' "$TOP"/book/*.md
}

@test "nothing points at a document outside the repository" {
	# The project's own planning notes are not shipped with it: a page or a
	# comment that cites them sends the reader nowhere.
	local notes='PITFALLS|DESIGN\.md|STYLE\.md|[Pp]itfall [0-9]'
	run grep -rnIE "$notes" "$TOP"/README.md "$TOP"/book "$TOP"/chapters \
		"$TOP"/common "$TOP"/Makefile "$TOP"/tests/*.bash \
		--exclude='*.o' --exclude=server --exclude=demo --exclude=client
	[ "$status" -eq 1 ] || { echo "$output"; false; }
}

@test "every Mermaid diagram renders" {
	# A block that does not parse shows as an error box on GitHub. The
	# sanitizer pass of make check has nothing new to say about Markdown.
	[ -z "${SANITIZED:-}" ] || skip "rendered in the plain run"
	run "$COMMON/mermaid-check" "$TOP"/README.md "$TOP"/book/*.md
	[ "$status" -ne 77 ] || skip "$output"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "mermaid-check catches a diagram that does not parse" {
	[ -z "${SANITIZED:-}" ] || skip "rendered in the plain run"
	local md=$BATS_TEST_TMPDIR/page.md
	printf '%s\n' '```mermaid' 'sequenceDiagram' '    C->>K: wait' \
		'    Note over C,K: asleep; no CPU used' '```' >"$md"
	run "$COMMON/mermaid-check" "$md"
	[ "$status" -ne 77 ] || skip "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"does not render"* ]]
}
