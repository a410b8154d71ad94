/* A closure's formals and environment through R's API. R 4.5.0 added
 * R_ClosureFormals() and R_ClosureEnv() and R CMD check --as-cran reports
 * FORMALS() and CLOENV() as non-API calls from then on; before 4.5.0 those
 * macros are the only way there is. (R_ClosureExpr(), the body, is API
 * since R 4.1.0.) */
#ifndef WS_CLOSURE_H
#define WS_CLOSURE_H

#include <Rversion.h>

#if R_VERSION >= R_Version(4, 5, 0)
#define WS_CLOSURE_FORMALS(x) R_ClosureFormals(x)
#define WS_CLOSURE_ENV(x) R_ClosureEnv(x)
#else
#define WS_CLOSURE_FORMALS(x) FORMALS(x)
#define WS_CLOSURE_ENV(x) CLOENV(x)
#endif

#endif
