/* .Call entry points, registered in init.c. */
#ifndef WS_GLUE_H
#define WS_GLUE_H

#define R_NO_REMAP
#include <Rinternals.h>

SEXP C_ws_open(SEXP root, SEXP budget, SEXP ttl, SEXP durable, SEXP memory_cache,
               SEXP semantics, SEXP producer, SEXP trust, SEXP secret);
SEXP C_ws_close(SEXP store);
SEXP C_ws_store_info(SEXP store);
SEXP C_ws_save(SEXP store, SEXP key, SEXP payload, SEXP serialized,
               SEXP objective, SEXP iteration, SEXP kind, SEXP run_id,
               SEXP label);
SEXP C_ws_list(SEXP store, SEXP key, SEXP labels);
SEXP C_ws_remove(SEXP store, SEXP key, SEXP keep_run_id);
SEXP C_ws_lookup(SEXP store, SEXP key, SEXP latest, SEXP touch,
                 SEXP authenticated);
SEXP C_ws_remove_entry(SEXP store, SEXP key, SEXP run_id);
SEXP C_ws_is_r_serialization(SEXP bytes);
SEXP C_ws_evict(SEXP store, SEXP verify);
SEXP C_ws_advance_time(SEXP store, SEXP seconds);
SEXP C_ws_inject_fault(SEXP store, SEXP point, SEXP action, SEXP times);
SEXP C_ws_value_cache_usage(void);
SEXP C_ws_sweep_state(SEXP store);
SEXP C_ws_value_cache_clear(void);
SEXP C_ws_value_cache_limits(SEXP entries, SEXP bytes);
SEXP C_ws_same_object(SEXP x, SEXP y);
SEXP C_ws_check_key(SEXP key);
SEXP C_ws_is_key(SEXP x);
SEXP C_ws_check_run_id(SEXP run_id);
SEXP C_ws_host_token(void);
SEXP C_ws_sha256(SEXP bytes);
SEXP C_ws_claim(SEXP store, SEXP key);
SEXP C_ws_release(SEXP claim);
SEXP C_ws_key(SEXP args);
SEXP C_ws_promise_guard(SEXP on);
SEXP C_ws_rstream_check(SEXP bytes);

/* errors.c: raise a classed R condition; neither returns. */
struct ws_error;
void ws_raise(const struct ws_error *err) __attribute__((noreturn));
void ws_raise_arg(const char *argument, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
/* A condition of class cls (then "ws_error", "error"). */
void ws_raise_class(const char *cls, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
/* A warning of class cls (and "warning"): handlers can catch it by class. */
void ws_warn(const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
