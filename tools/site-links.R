# Checks the internal links of a built site: every href and src of every
# HTML page that is not an absolute URL must name a file of the site, and
# its #fragment, if any, an id (or a name) on that page. Prints each broken
# link with the page it is on and exits with status 1 when there is one.
# Usage: Rscript tools/site-links.R SITE_DIR
site <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(site) || !dir.exists(site)) stop("usage: Rscript tools/site-links.R SITE_DIR")
site <- normalizePath(site)
pages <- list.files(site, pattern = "\\.html$", recursive = TRUE, full.names = TRUE)

anchors <- new.env()
ids_of <- function(page) {
  if (is.null(anchors[[page]])) {
    doc <- xml2::read_html(page)
    anchors[[page]] <- c(xml2::xml_attr(xml2::xml_find_all(doc, "//*[@id]"), "id"),
                         xml2::xml_attr(xml2::xml_find_all(doc, "//a[@name]"), "name"))
  }
  anchors[[page]]
}

broken <- character()
checked <- 0L
for (page in pages) {
  doc <- xml2::read_html(page)
  nodes <- xml2::xml_find_all(doc, "//a[@href] | //link[@href] | //img[@src] | //script[@src]")
  urls <- ifelse(is.na(xml2::xml_attr(nodes, "href")), xml2::xml_attr(nodes, "src"),
                 xml2::xml_attr(nodes, "href"))
  # Absolute URLs (http:, mailto:, data:, //host) are not this site's.
  urls <- urls[!grepl("^([A-Za-z][A-Za-z0-9+.-]*:|//)", urls) & nzchar(urls)]
  for (url in unique(urls)) {
    checked <- checked + 1L
    parts <- strsplit(url, "#", fixed = TRUE)[[1]]
    path <- sub("\\?.*$", "", utils::URLdecode(parts[1]))
    fragment <- if (length(parts) > 1) utils::URLdecode(parts[2]) else ""
    target <- if (is.na(path) || !nzchar(path)) page else
      file.path(dirname(page), path)
    if (dir.exists(target)) target <- file.path(target, "index.html")
    where <- substring(page, nchar(site) + 2)
    if (!file.exists(target)) {
      broken <- c(broken, sprintf("%s: %s (no such file)", where, url))
    } else if (nzchar(fragment) && grepl("\\.html$", target) &&
               !fragment %in% ids_of(normalizePath(target))) {
      broken <- c(broken, sprintf("%s: %s (no such anchor)", where, url))
    }
  }
}
if (length(broken)) {
  cat("site: broken internal links:\n", paste0("  ", broken, "\n"), sep = "")
  cat(sprintf("site: %d pages, %d links, %d broken\n", length(pages), checked,
              length(broken)))
  quit(status = 1)
}
cat(sprintf("site: %d pages, %d internal links, 0 broken (%s)\n", length(pages),
            checked, site))
