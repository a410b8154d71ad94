/* For a test of ws_key()'s reentrancy: an ALTREP integer vector 1..n with
 * no data pointer, whose region method calls an R function first. ws_key()
 * reads such a vector by region, so the function (which calls ws_key()
 * again) runs in the middle of the outer call's traversal. */
#include <R.h>
#include <Rinternals.h>
#include <R_ext/Altrep.h>
#include <R_ext/Rdynload.h>

static R_altrep_class_t reenter_class;

static R_xlen_t reenter_length(SEXP x) {
  return (R_xlen_t)REAL(R_altrep_data1(x))[0];
}

static void *reenter_dataptr(SEXP x, Rboolean writable) {
  (void)x;
  (void)writable;
  Rf_error("this vector has no data pointer");
  return NULL;
}

static const void *reenter_dataptr_or_null(SEXP x) {
  (void)x;
  return NULL;
}

static int reenter_elt(SEXP x, R_xlen_t i) {
  (void)x;
  return (int)(i + 1);
}

static R_xlen_t reenter_get_region(SEXP x, R_xlen_t i, R_xlen_t n, int *buf) {
  SEXP fun = R_altrep_data2(x);
  SEXP call = PROTECT(Rf_lang1(fun));
  Rf_eval(call, R_GlobalEnv);
  UNPROTECT(1);
  R_xlen_t len = reenter_length(x), k = 0;
  for (; k < n && i + k < len; k++) buf[k] = (int)(i + k + 1);
  return k;
}

SEXP reenter_make(SEXP n, SEXP fun) {
  return R_new_altrep(reenter_class, n, fun);
}

static const R_CallMethodDef calls[] = {{"reenter_make", (DL_FUNC)&reenter_make, 2},
                                        {NULL, NULL, 0}};

void R_init_reenter(DllInfo *dll) {
  reenter_class = R_make_altinteger_class("reenter", "reenter", dll);
  R_set_altrep_Length_method(reenter_class, reenter_length);
  R_set_altvec_Dataptr_method(reenter_class, reenter_dataptr);
  R_set_altvec_Dataptr_or_null_method(reenter_class, reenter_dataptr_or_null);
  R_set_altinteger_Elt_method(reenter_class, reenter_elt);
  R_set_altinteger_Get_region_method(reenter_class, reenter_get_region);
  R_registerRoutines(dll, NULL, calls, NULL, NULL);
}
