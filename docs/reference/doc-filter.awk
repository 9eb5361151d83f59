# docs/reference/doc-filter.awk - Doxygen's INPUT_FILTER for the public
# headers: their contracts are plain C comments (the project's style, as
# libuv's); this turns them into Doxygen's comments on the way in, leaving
# the files as they are. A header's opening comment ("/* name.h - ...")
# documents the file; a comment that starts a line documents what follows
# it; a comment after code on the same line documents that code (a struct
# field, an enum value). The license line and section banners ("/*=====")
# stay plain comments.
/^\/\* SPDX-License-Identifier/ { print; next }
/^\/\*=====/ { print; next }
!seen_file && /^\/\* [A-Za-z0-9_.\/]+\.h - / {
    seen_file = 1
    sub(/^\/\* /, "/** @file\n * ")
    print
    next
}
/^ *\/\* / { sub(/\/\* /, "/** "); print; next }
/[^ \t].*[;,{] *\/\* / { sub(/\/\* /, "/**< "); print; next }
{ print }
