# The model shapes and the methods of test-gam-methods.R. Plain R (no
# testthat): a child process sources this file too, to fit the same calls
# and run the same methods on what it reads from the store.

methods_data <- function(n = 300, seed = 1) {
  set.seed(seed)
  d <- data.frame(x0 = runif(n), x1 = runif(n), x2 = runif(n), x3 = runif(n))
  d$fac <- factor(sample(c("a", "b", "c"), n, replace = TRUE))
  d$e <- runif(n, 1, 2)
  d$P <- matrix(rnorm(3 * n), n, 3)
  d$y <- sin(2 * pi * d$x0) + d$x1^2 + 0.5 * d$x2 +
    c(a = 0, b = 0.5, c = 1)[as.character(d$fac)] + rnorm(n, sd = 0.3)
  d$cnt <- rpois(n, exp(0.3 + 0.5 * sin(2 * pi * d$x0) + 0.3 * d$x2) * d$e)
  d
}

# A bootstrap resample: the same model on other data (the warm path).
methods_resample <- function(d, seed = 2) {
  set.seed(seed)
  d[sample(nrow(d), replace = TRUE), ]
}

# Each shape: a fitter name, the call's arguments as expressions (written
# as a user would type them) and the variables vis.gam() is asked to show.
methods_shapes <- function() {
  list(
    parametric = list(fitter = "gam", args = quote(list(y ~ s(x0) + x2, method = "REML"))),
    factor = list(fitter = "gam", args = quote(list(y ~ s(x0) + fac + x2, method = "REML"))),
    by = list(fitter = "gam", args = quote(list(y ~ s(x1, by = fac) + fac, method = "REML"))),
    tensor = list(fitter = "gam", args = quote(list(
      y ~ te(x0, x1, k = 4) + ti(x2, k = 5) + t2(x0, x3, k = 4), method = "REML"))),
    random = list(fitter = "gam", args = quote(list(y ~ s(x0) + s(fac, bs = "re") + x2,
                                                     method = "REML"))),
    parapen = list(fitter = "gam", args = quote(list(y ~ s(x0) + P, method = "REML",
                                                      paraPen = list(P = list(diag(3)))))),
    offset = list(fitter = "gam", args = quote(list(cnt ~ s(x0) + x2 + offset(log(e)),
                                                     family = poisson(), method = "REML"))),
    gaulss = list(fitter = "gam", args = quote(list(list(y ~ s(x0) + x2, ~ s(x1)),
                                                     family = mgcv::gaulss(), method = "REML"))),
    bam = list(fitter = "bam", args = quote(list(y ~ s(x0) + fac + x2))),
    gamm = list(fitter = "gamm", args = quote(list(y ~ s(x0) + x2, random = list(fac = ~1))))
  )
}

# The call a user would write: ws_gam(<formula>, d, <args>, store = st,
# fitter = mgcv::<fitter>), or mgcv::<fitter>(<formula>, data = d, <args>).
methods_call <- function(shape, warmstart = TRUE) {
  a <- as.list(shape$args)[-1L]
  fitter <- call("::", as.name("mgcv"), as.name(shape$fitter))
  if (warmstart) {
    cl <- c(list(as.name("ws_gam"), a[[1L]], as.name("d")), a[-1L],
            list(store = as.name("st")))
    if (shape$fitter != "gam") cl$fitter <- fitter
  } else {
    cl <- c(list(fitter, a[[1L]], data = as.name("d")), a[-1L])
  }
  as.call(cl)
}

# Rows to predict for: a slice of the data, and the same with a factor
# level the fit has not seen (gam() refuses it for a fixed factor).
methods_newdata <- function(d) {
  nd <- d[1:20, ]
  unseen <- nd
  unseen$fac <- factor(rep(c("a", "z"), 10))
  list(seen = nd, unseen = unseen)
}

# Every method users call on a fit, each result or the error it raised.
method_results <- function(fit, newdata) {
  g <- if (inherits(fit, "gam")) fit else fit$gam
  out <- list()
  on <- function(name, expr) {
    # Warnings (an unseen factor level) are the fitter's: both fits give them.
    out[name] <<- list(tryCatch(suppressWarnings(expr), error = function(e) {
      structure(list(message = conditionMessage(e)), class = "method_error")
    }))
  }
  # A null device per plotting method, closed however the method ends.
  on_device <- function(expr) {
    grDevices::pdf(NULL)
    on.exit(grDevices::dev.off())
    expr
  }
  on("predict", predict(g))
  on("predict_response", predict(g, type = "response"))
  on("predict_terms", predict(g, type = "terms"))
  on("predict_newdata_se", predict(g, newdata$seen, se.fit = TRUE))
  on("predict_newdata_terms", predict(g, newdata$seen, type = "terms"))
  on("predict_lpmatrix", predict(g, newdata$seen, type = "lpmatrix"))
  on("predict_unseen_level", predict(g, newdata$unseen))
  on("model_matrix", model.matrix(g))
  on("coef", coef(g))
  on("fitted", fitted(g))
  on("residuals_deviance", residuals(g))
  on("residuals_pearson", residuals(g, type = "pearson"))
  on("residuals_response", residuals(g, type = "response"))
  on("vcov", vcov(g))
  on("AIC", AIC(g))
  on("logLik", as.numeric(logLik(g)))
  on("summary_p", summary(g)$p.table)
  on("summary_s", summary(g)$s.table)
  on("anova", { a <- anova(g); list(a$s.table, a$pTerms.table) })
  on("concurvity", mgcv::concurvity(g))
  on("plot", on_device({
    pd <- plot(g, all.terms = TRUE, pages = 1)
    lapply(pd, function(p) p[intersect(c("fit", "se", "x", "y"), names(p))])
  }))
  on("termplot", on_device(termplot(g, plot = FALSE)))
  on("vis_gam", on_device({
    v <- intersect(c("x0", "x1", "x2", "x3"), all.vars(formula(g)))
    res <- mgcv::vis.gam(g, view = v[1:2], plot.type = "contour", n.grid = 10)
    res$fv
  }))
  on("gam_check", on_device({
    utils::capture.output(mgcv::gam.check(g))
    set.seed(1)
    mgcv::k.check(g)[, c("k'", "edf"), drop = FALSE]
  }))
  out
}
