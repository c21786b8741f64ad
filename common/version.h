/* version: what `--version` prints. Defined in the C file the build writes
 * ($(BUILD)/gen/version.c, scripts/version.sh) and linked into each binary
 * only (not into libcommon), so that a new commit relinks the binaries and
 * nothing else. */
#ifndef JSMCP_VERSION_H
#define JSMCP_VERSION_H

extern const char jsmcp_version[]; /* "0.2.0" */
extern const char jsmcp_commit[];  /* 12 hex digits, "-dirty" when built with local changes; or "unknown" */

#endif
