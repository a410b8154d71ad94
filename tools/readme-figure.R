# Makes man/figures/ws-gam-bench.png, the README's figure, from the
# figures of bench/realdata.R kept in vignettes/bench-gam.csv (the same
# data as the Performance article's plot). Run from the top of the source
# tree: Rscript tools/readme-figure.R. Nothing is measured here.
gam_bench <- read.csv("vignettes/bench-gam.csv", check.names = FALSE)
public <- gam_bench[!grepl("^gamSim", gam_bench$data), ]
ratios <- rbind(iterations = public$iter_warm / public$iter_cold,
                time = public$sec_warm / public$sec_cold)
png("man/figures/ws-gam-bench.png", width = 1400, height = 640, res = 200)
op <- par(mar = c(3, 4.2, 2.2, 1), cex = 0.9)
mids <- barplot(ratios, beside = TRUE, names.arg = public$data,
                ylim = c(0, 1.15), ylab = "ws_gam() / cold gam()",
                col = c("steelblue", "grey70"), border = NA,
                legend.text = c("outer iterations", "time"),
                args.legend = list(x = "topleft", bty = "n", horiz = TRUE))
text(mids, ratios, sprintf("%.2f", ratios), pos = 3, cex = 0.8)
abline(h = 1, col = "grey40")
title("5-fold CV and 5 bootstrap resamples per data set (bench/realdata.R)",
      cex.main = 0.9, font.main = 1)
par(op)
invisible(dev.off())
