/* log: structured JSON log lines on stderr, one per event.
 *
 * LOG_INFO("api", "server created", "id", id, "account", acct, NULL)
 * writes {"ts":"...","level":"info","mod":"api","msg":"server created","id":"...","account":"..."}.
 * Key/value pairs are strings, terminated by NULL. The level is checked
 * before anything is formatted. Never pass tokens, keys, passwords or
 * Authorization headers: the log is not a secret store.
 */
#ifndef JSMCP_LOG_H
#define JSMCP_LOG_H

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

extern enum log_level log_min_level;

/* Reads JSMCP_LOG_LEVEL (debug|info|warn|error) and the process name used in
 * every line ("proc"). Safe to call more than once. */
void log_init(const char *proc);

void log_kv(enum log_level lvl, const char *mod, const char *msg, ...)
    __attribute__((sentinel));
/* printf-style message, no extra fields. */
void log_fmt(enum log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_DEBUG(mod, msg, ...) do { if (log_min_level <= LOG_LVL_DEBUG) log_kv(LOG_LVL_DEBUG, mod, msg, __VA_ARGS__); } while (0)
#define LOG_INFO(mod, msg, ...)  do { if (log_min_level <= LOG_LVL_INFO)  log_kv(LOG_LVL_INFO,  mod, msg, __VA_ARGS__); } while (0)
#define LOG_WARN(mod, msg, ...)  do { if (log_min_level <= LOG_LVL_WARN)  log_kv(LOG_LVL_WARN,  mod, msg, __VA_ARGS__); } while (0)
#define LOG_ERROR(mod, msg, ...) log_kv(LOG_LVL_ERROR, mod, msg, __VA_ARGS__)

#endif
