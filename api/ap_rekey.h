/* ap_rekey: `jsmcp-api rotate-keys` (see ap_rekey.c): re-encrypts every
 * sealed secret under the active master key and republishes the accounts. */
#ifndef JSMCP_AP_REKEY_H
#define JSMCP_AP_REKEY_H

/* Runs one rotation pass; the process exit code (0: nothing is left under
 * another key). */
int ap_rekey_run(void);

#endif
