# Effective degrees of freedom of each smooth of a fitted GAM, named by the
# smooth.
smooth_edf <- function(fit) {
  if (!inherits(fit, "gam")) stop("`fit` must be a fitted GAM")
  table <- mgcv::summary.gam(fit)$s.table
  stats::setNames(table[, "edf"], rownames(table))
}
