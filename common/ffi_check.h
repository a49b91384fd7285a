/* ffi_check.h - what the two halves of the ffi check share. */
#ifndef FFI_CHECK_H
#define FFI_CHECK_H

#include <stddef.h>

struct ffi_const {
	const char *name;    /* the constant's name, e.g. "EPOLLIN" */
	unsigned long value; /* its value; NULL name ends the table */
};

extern const struct ffi_const ffi_ours[];
extern const size_t ffi_ours_size, ffi_ours_events_offset,
	ffi_ours_data_offset, ffi_ours_events_size, ffi_ours_data_size;

#endif
