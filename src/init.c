/* Routine registration; symbols are not searched dynamically. */
#include <R_ext/Rdynload.h>

#include "glue.h"
#include "core/ws_core.h"

#define CALLDEF(name, n) {#name, (DL_FUNC)&name, n}

static const R_CallMethodDef call_methods[] = {
    CALLDEF(C_ws_open, 9),         CALLDEF(C_ws_close, 1),
    CALLDEF(C_ws_store_info, 1),   CALLDEF(C_ws_save, 9),
    CALLDEF(C_ws_lookup, 5),       CALLDEF(C_ws_evict, 2),
    CALLDEF(C_ws_advance_time, 2), CALLDEF(C_ws_inject_fault, 4),
    CALLDEF(C_ws_value_cache_usage, 0),  CALLDEF(C_ws_value_cache_clear, 0),
    CALLDEF(C_ws_same_object, 2),  CALLDEF(C_ws_key, 1),
    CALLDEF(C_ws_list, 3),         CALLDEF(C_ws_remove, 3),
    CALLDEF(C_ws_value_cache_limits, 2),  CALLDEF(C_ws_sweep_state, 1),
    CALLDEF(C_ws_check_key, 1),    CALLDEF(C_ws_check_run_id, 1),
    CALLDEF(C_ws_is_key, 1),       CALLDEF(C_ws_host_token, 0),
    CALLDEF(C_ws_remove_entry, 3), CALLDEF(C_ws_is_r_serialization, 1),
    CALLDEF(C_ws_claim, 2),        CALLDEF(C_ws_release, 1),
    CALLDEF(C_ws_sha256, 1),
    CALLDEF(C_ws_promise_guard, 1), CALLDEF(C_ws_rstream_check, 1),
    {NULL, NULL, 0}};

void R_init_warmstart(DllInfo *dll) {
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
  R_forceSymbols(dll, TRUE);
}

void R_unload_warmstart(DllInfo *dll) {
  (void)dll;
  /* The cache holds preserved R objects: let them go with the library. */
  ws_value_cache_clear();
}
