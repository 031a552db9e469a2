/* vaebench results site: draws the page from the JSON in #vaebench-data (no network, no library).
 * Results page: a sortable, filterable table (one row per configuration), a metric legend, one
 * SVG chart per (dataset, metric) against latent dim, and a detail panel per row (figures,
 * per-seed values, run records). Comparison page: candidate vs baseline, verdicts coloured.
 * window.vaebench exposes the state the browser tests read (e.g. table.lastMs). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("vaebench-data").textContent);
  var app = document.getElementById("app");

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v, digits) {
    if (v == null || typeof v !== "number" || !isFinite(v)) return "—";
    if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential((digits || 4) - 1);
    return String(Number(v.toPrecision(digits || 4)));
  }
  function meanStd(c) {
    if (!c) return "";
    var s = num(c.mean);
    if (c.std != null && c.n > 1) s += " ± " + num(c.std, 2);
    return s;
  }
  function h(tag, attrs, html) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (html != null) e.innerHTML = html;
    return e;
  }
  function uniq(values) {
    var seen = {}, out = [];
    values.forEach(function (v) { if (v != null && !seen[v]) { seen[v] = 1; out.push(v); } });
    return out.sort(function (a, b) { return typeof a === "number" ? a - b : String(a).localeCompare(String(b)); });
  }
  function json(v) { return "<pre>" + esc(JSON.stringify(v, null, 2)) + "</pre>"; }

  /* A table sorted by any column and filtered by a predicate, shown a page at a time (PAGE rows:
   * 1,000 rows in the DOM cost the browser's table layout hundreds of ms per sort on a slow
   * machine, a page costs a tenth; printing shows every row). Each column: {label (html), title,
   * value(row) -> number | string | null (the sort key), cell(row) -> html}. Row HTML and sort
   * keys are computed once; a sort or filter only reorders strings into the tbody. */
  var PAGE = 50;
  function Table(parent, columns, rows, rowAttrs) {
    var self = this;
    this.columns = columns; this.rows = rows; this.filter = null; this.sortCol = -1; this.sortDir = 1; this.lastMs = 0;
    this.page = 0; this.pageSize = PAGE; this.matched = [];
    this.keys = columns.map(function (c) { return rows.map(c.value); });
    this.html = rows.map(function (r, i) {
      return "<tr " + (rowAttrs ? rowAttrs(r, i) : "") + ">" + columns.map(function (c) {
        var cls = (c.numeric ? "num " : "") + (c.cls || "");
        return "<td" + (cls.trim() ? ' class="' + cls.trim() + '"' : "") + ">" + c.cell(r) + "</td>";
      }).join("") + "</tr>";
    });
    this.order = rows.map(function (_, i) { return i; });
    var table = h("table", { "class": "data" });
    var head = "<thead><tr>" + columns.map(function (c, j) {
      var cls = ((c.numeric ? "num " : "") + (c.cls || "")).trim();
      return '<th scope="col" data-col="' + j + '" title="' + esc(c.title || "") + '"' + (cls ? ' class="' + cls + '"' : "") +
        '><button type="button">' + c.label.replace(/(<small>|$)/, '<span class="sort"></span>$1') + "</button></th>";
    }).join("") + "</tr></thead>";
    table.innerHTML = head + "<tbody></tbody>";
    this.tbody = table.tBodies[0];
    table.tHead.addEventListener("click", function (ev) {
      var th = ev.target.closest("th");
      if (th) self.sortBy(+th.dataset.col, +th.dataset.col === self.sortCol ? -self.sortDir : 1);
    });
    this.table = table;
    parent.appendChild(table);
    this.pager = h("div", { "class": "pager" });
    this.pager.addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-page]");
      if (b) { self.page = +b.dataset.page; self.render(); }
    });
    this.pager.addEventListener("change", function (ev) {
      self.pageSize = ev.target.value === "all" ? 0 : +ev.target.value; self.page = 0; self.render();
    });
    parent.parentNode.insertBefore(this.pager, parent.nextSibling);
    function printing(on) { if (self.printing !== on) { self.printing = on; self.render(); } }  // print: every row
    window.addEventListener("beforeprint", function () { printing(true); });
    window.addEventListener("afterprint", function () { printing(false); });
    var media = window.matchMedia("print");
    if (media.addEventListener) media.addEventListener("change", function (ev) { printing(ev.matches); });
    this.render();
  }
  Table.prototype.sortBy = function (j, dir) {
    var t0 = performance.now(), keys = this.keys[j];
    this.sortCol = j; this.sortDir = dir; this.page = 0;
    this.order.sort(function (a, b) {  // missing values last in either direction
      var x = keys[a], y = keys[b];
      if (x == null || y == null) return x == null ? (y == null ? a - b : 1) : -1;
      return x === y ? a - b : (x < y ? -dir : dir);
    });
    Array.prototype.forEach.call(this.table.tHead.rows[0].cells, function (th, k) {
      th.setAttribute("aria-sort", k === j ? (dir > 0 ? "ascending" : "descending") : "none");
      th.querySelector(".sort").textContent = k === j ? (dir > 0 ? " ▲" : " ▼") : "";
    });
    this.render(t0);
  };
  Table.prototype.setFilter = function (pred) { var t0 = performance.now(); this.filter = pred; this.page = 0; this.render(t0); };
  Table.prototype.render = function (t0) {
    t0 = t0 || performance.now();
    var rows = this.rows, filter = this.filter, html = this.html;
    var matched = this.matched = filter ? this.order.filter(function (i) { return filter(rows[i]); }) : this.order.slice();
    var size = this.printing || !this.pageSize ? matched.length || 1 : this.pageSize;
    var pages = Math.max(1, Math.ceil(matched.length / size));
    this.page = Math.min(this.page, pages - 1);
    var first = this.page * size, last = Math.min(matched.length, first + size);
    this.tbody.innerHTML = matched.slice(first, last).map(function (i) { return html[i]; }).join("");
    this.shown = matched.length;
    var opts = [PAGE, 100, 250, 1000, "all"].map(function (n) {
      var sel = (n === "all" ? !this.pageSize : n === this.pageSize) ? " selected" : "";
      return '<option value="' + n + '"' + sel + ">" + n + "</option>";
    }, this).join("");
    this.pager.hidden = matched.length <= PAGE && this.pageSize === PAGE;
    this.pager.innerHTML = "rows " + (matched.length ? first + 1 : 0) + "–" + last + " of " + matched.length + " " +
      '<button type="button" data-page="' + (this.page - 1) + '"' + (this.page ? "" : " disabled") + ">‹ previous</button> " +
      '<button type="button" data-page="' + (this.page + 1) + '"' + (this.page < pages - 1 ? "" : " disabled") + ">next ›</button> " +
      '<label>per page <select name="pagesize">' + opts + "</select></label>";
    if (this.onRender) this.onRender(matched.length);
    this.pin();
    this.lastMs = performance.now() - t0;
  };
  /* The first `sticky` columns (the row identity) stay in view when the table scrolls sideways:
   * each one's left offset is the width of the columns before it, measured after a render. */
  Table.prototype.pin = function () {
    if (!this.sticky) return;
    var cells = this.table.tHead.rows[0].cells, left = 0, css = "";
    for (var k = 0; k < this.sticky && k < cells.length; k++) {
      css += "#" + this.id + " td:nth-child(" + (k + 1) + ") { position: sticky; left: " + left + "px; z-index: 1;" +
        (k === this.sticky - 1 ? " box-shadow: inset -1px 0 var(--line);" : "") + " }\n" +
        "#" + this.id + " th:nth-child(" + (k + 1) + ") { left: " + left + "px; z-index: 3; }\n";
      left += cells[k].getBoundingClientRect().width;
    }
    if (!this.pinStyle) { this.pinStyle = h("style"); document.head.appendChild(this.pinStyle); }
    if (this.pinStyle.textContent !== css) this.pinStyle.textContent = css;
  };

  function select(label, name, values, onChange) {
    var s = h("label", { "class": "filter" }, esc(label) + " ");
    var sel = h("select", { name: name }, '<option value="">all</option>' + values.map(function (v) {
      return '<option value="' + esc(v) + '">' + esc(v) + "</option>";
    }).join(""));
    sel.addEventListener("change", onChange);
    s.appendChild(sel);
    return s;
  }

  /* ------------------------------------------------------------------ charts */
  function chart(c, marks) {
    var W = 380, H = 250, L = 58, R = 10, T = 26, B = 36, all = [];
    c.series.forEach(function (s) { s.points.forEach(function (p) {
      var sd = p[2] == null ? 0 : p[2]; all.push([p[0], p[1] - sd, p[1] + sd]);
    }); });
    var dims = uniq(all.map(function (p) { return p[0]; }));
    if (c.floor && c.floor.value != null) all.push([dims[0], c.floor.value, c.floor.value]);  // the real-data floor in range
    var lo = Math.min.apply(null, all.map(function (p) { return p[1]; })), hi = Math.max.apply(null, all.map(function (p) { return p[2]; }));
    if (hi === lo) { hi += Math.abs(hi) * 0.05 || 1; lo -= Math.abs(lo) * 0.05 || 1; }
    var pad = (hi - lo) * 0.06; lo -= pad; hi += pad;
    var x0 = Math.log2(dims[0]), x1 = Math.log2(dims[dims.length - 1]);
    function X(d) { return x1 === x0 ? L + (W - L - R) / 2 : L + (Math.log2(d) - x0) / (x1 - x0) * (W - L - R); }
    function Y(v) { return T + (hi - v) / (hi - lo) * (H - T - B); }
    var m = c.meta || {}, g = [];
    g.push('<text x="' + W / 2 + '" y="15" class="ctitle">' + esc(c.dataset + ": " + c.metric + " " + (m.arrow || "")) + "</text>");
    var raw = (hi - lo) / 5, mag = Math.pow(10, Math.floor(Math.log10(raw))), r = raw / mag;
    var step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;  // ticks at round numbers
    for (var v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      var y = Y(v);
      g.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y + '" y2="' + y + '" class="grid"/>');
      g.push('<text x="' + (L - 4) + '" y="' + (y + 3) + '" class="ytick">' + esc(num(Math.abs(v) < step / 1e6 ? 0 : v, 3)) + "</text>");
    }
    dims.forEach(function (d) { g.push('<text x="' + X(d) + '" y="' + (H - B + 14) + '" class="xtick">' + d + "</text>"); });
    g.push('<text x="' + ((L + W - R) / 2) + '" y="' + (H - 4) + '" class="xlabel">latent dimension</text>');
    g.push('<text transform="translate(11,' + ((T + H - B) / 2) + ') rotate(-90)" class="ylabel">' + esc(m.unit || c.metric) + "</text>");
    c.series.forEach(function (s, si) {
      var dash = s.protocol && c.protocols > 1 ? ' stroke-dasharray="' + (si % 2 ? "5,3" : "2,2") + '"' : "";
      g.push('<polyline fill="none" stroke="' + s.colour + '" stroke-width="1.6"' + dash + ' points="' +
        s.points.map(function (p) { return X(p[0]) + "," + Y(p[1]); }).join(" ") + '"/>');
      s.points.forEach(function (p) {
        var x = X(p[0]), tip = s.model + (s.protocol ? " (" + s.protocol + ")" : "") + ", z=" + p[0] + ": " + num(p[1]) +
          (p[2] != null ? " ± " + num(p[2], 2) : "");
        if (p[2] != null) g.push('<path d="M' + x + "," + Y(p[1] - p[2]) + "V" + Y(p[1] + p[2]) + "M" + (x - 3) + "," + Y(p[1] - p[2]) +
          "h6M" + (x - 3) + "," + Y(p[1] + p[2]) + 'h6" stroke="' + s.colour + '"/>');
        g.push('<circle cx="' + x + '" cy="' + Y(p[1]) + '" r="3" fill="' + s.colour + '"><title>' + esc(tip) + "</title></circle>");
      });
    });
    if (c.floor && c.floor.value != null) {  // the real-data floor: two draws of the data itself score this
      var fy = Y(c.floor.value);
      g.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + fy + '" y2="' + fy + '" class="floor"><title>' +
        esc(c.floor.label + ": " + num(c.floor.value)) + "</title></line>");
      g.push('<text x="' + (W - R - 2) + '" y="' + (fy - 3) + '" class="floorlabel">real-data floor</text>');
    }
    marks.forEach(function (mk) {  // recommend's choices (none until that command exists)
      c.series.forEach(function (s) { s.points.forEach(function (p) {
        if (s.model === mk.model && p[0] === mk.latent_dim) g.push('<circle cx="' + X(p[0]) + '" cy="' + Y(p[1]) +
          '" r="7" class="mark"><title>' + esc(mk.label || "recommended") + "</title></circle>");
      }); });
    });
    return '<figure class="chart" data-dataset="' + esc(c.dataset) + '"><svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="' +
      esc(c.dataset + " " + c.metric) + '">' + g.join("") + "</svg></figure>";
  }
  /* One legend for every chart (a model is one colour everywhere), instead of one under each. */
  function sharedLegend(charts) {
    var seen = {}, keys = [];
    charts.forEach(function (c) { c.series.forEach(function (s) {
      var name = s.model + (s.protocol && c.protocols > 1 ? " (" + s.protocol + ")" : "");
      if (!seen[name]) { seen[name] = 1; keys.push('<span class="key"><i style="background:' + s.colour + '"></i>' + esc(name) + "</span>"); }
    }); });
    return '<p class="chartlegend">' + keys.join(" ") + "</p>";
  }

  /* Training curves of one run: the per-epoch training and validation loss (record.curves). */
  function curveChart(curves, title) {
    var W = 300, H = 170, L = 52, R = 8, T = 20, B = 30, ep = curves.epoch, lines = [["train_loss", "#0072B2", "training"], ["val_loss", "#D55E00", "validation"]];
    var vals = [];
    lines.forEach(function (l) { (curves[l[0]] || []).forEach(function (v) { if (v != null) vals.push(v); }); });
    if (!vals.length || !ep.length) return "";
    var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
    if (hi === lo) { hi += Math.abs(hi) * 0.05 || 1; lo -= Math.abs(lo) * 0.05 || 1; }
    var e0 = ep[0], e1 = ep[ep.length - 1];
    function X(e) { return e1 === e0 ? L + (W - L - R) / 2 : L + (e - e0) / (e1 - e0) * (W - L - R); }
    function Y(v) { return T + (hi - v) / (hi - lo) * (H - T - B); }
    var g = ['<text x="' + W / 2 + '" y="13" class="ctitle">' + esc(title) + "</text>",
      '<text x="' + (L - 4) + '" y="' + (Y(hi) + 3) + '" class="ytick">' + esc(num(hi, 4)) + "</text>",
      '<text x="' + (L - 4) + '" y="' + (Y(lo) + 3) + '" class="ytick">' + esc(num(lo, 4)) + "</text>",
      '<text x="' + X(e0) + '" y="' + (H - B + 13) + '" class="xtick">' + (e0 + 1) + "</text>",
      '<text x="' + X(e1) + '" y="' + (H - B + 13) + '" class="xtick">' + (e1 + 1) + "</text>",
      '<text x="' + ((L + W - R) / 2) + '" y="' + (H - 3) + '" class="xlabel">epoch</text>'];
    lines.forEach(function (l) {
      var pts = [];
      (curves[l[0]] || []).forEach(function (v, i) { if (v != null) pts.push(X(ep[i]) + "," + Y(v)); });
      if (pts.length) g.push('<polyline fill="none" stroke="' + l[1] + '" stroke-width="1.5" points="' + pts.join(" ") + '"><title>' + l[2] + " loss</title></polyline>");
    });
    return '<figure class="chart curve"><svg viewBox="0 0 ' + W + " " + H + '" role="img" aria-label="' + esc(title) + '">' + g.join("") +
      '</svg><figcaption><span class="key"><i style="background:#0072B2"></i>training loss</span> <span class="key"><i style="background:#D55E00"></i>validation loss</span></figcaption></figure>';
  }
  function seconds(v) { return v == null ? "—" : (v >= 100 ? Math.round(v) : num(v, 3)) + " s"; }

  /* The first screen: per dataset, the best row of each judged metric (the SHOWN most widely
   * measured ones; the rest one click away) and recommend's choices, one line per model. */
  var SHOWN = 6;
  function summaryHtml(summary) {
    if (!summary || !summary.length) return "";
    function line(b) {
      var spread = b.std != null && b.n > 1 ? " ± " + num(b.std, 2) : "";
      return '<tr data-row="' + b.row + '" tabindex="0"><td class="metric">' + esc(b.metric) + " " + esc(b.arrow) + "</td><td>" + esc(b.model) +
        " z=" + esc(b.latent_dim) + '</td><td class="num">' + num(b.mean) + spread + '</td><td class="n">' +
        (b.n ? (b.n > 1 ? esc(b.n) + " seeds" : "1 seed") : "") + ", of " + esc(b.of) + " rows" +
        (b.floor != null ? '; <b class="atfloor">at the real-data noise floor (' + num(b.floor) + "): no better than data</b>" : "") + "</td></tr>";
    }
    var head = '<thead><tr><th>best by</th><th>configuration</th><th class="num">mean ± std over seeds</th><th></th></tr></thead>';
    return '<section class="summary" id="summary"><h2>Summary</h2>' + summary.map(function (d) {
      var more = d.best.slice(SHOWN);
      var byModel = {}, models = [];
      d.choices.forEach(function (c) {
        if (!byModel[c.model]) { byModel[c.model] = []; models.push(c.model); }
        byModel[c.model].push("z=" + esc(c.latent_dim) + ' <span class="n">(' + esc(c.criteria.join(", ")) + ")</span>");
      });
      var choices = models.length ? '<div class="choices"><b>recommend</b> (latent dim per criterion, recommend.csv):<ul>' + models.map(function (m) {
        return "<li>" + esc(m) + ": " + byModel[m].join("; ") + "</li>";
      }).join("") + "</ul></div>" : "";
      return '<div class="sumblock"><h3>' + esc(d.dataset) + '</h3><table class="best">' + head + "<tbody>" +
        d.best.slice(0, SHOWN).map(line).join("") + "</tbody></table>" +
        (more.length ? '<details class="more"><summary>' + more.length + " more judged metrics</summary><table class=\"best\">" + head +
          "<tbody>" + more.map(line).join("") + "</tbody></table></details>" : "") + choices + "</div>";
    }).join("") + "</section>";
  }

  function curvesHtml(r) {
    var charts = r.runs.filter(function (u) { return u.record.curves; }).map(function (u) {
      return curveChart(u.record.curves, "seed " + u.seed + ": loss per epoch");
    }).join("");
    return charts ? '<h3>Training curves</h3><p class="n">The training objective (mean over the epoch\'s batches) and the validation loss, per epoch; ' +
      "the weights kept are the epoch with the lowest validation loss.</p><div class=\"curves\">" + charts + "</div>" :
      (r.runs.some(function (u) { return (u.record.train || {}).epochs; }) ? "<h3>Training curves</h3><p class=\"n\">Not in these records (written before records kept per-epoch losses).</p>" : "");
  }

  /* ------------------------------------------------------------------ results page */
  function results() {
    var metrics = data.metrics, rows = data.rows, byName = {};
    metrics.forEach(function (m) { byName[m.name] = m; });
    var keyLabels = { dataset: "dataset", model: "model", latent_dim: "z", protocol: "protocol" };
    var runs = rows.reduce(function (a, r) { return a + r.runs.length; }, 0);
    app.appendChild(h("header", {}, "<h1>" + esc(data.title) + "</h1><p>" + rows.length + " configurations, " + runs +
      ' run records, test-split metrics as mean ± sample std over seeds (n = finished seeds). Click a row for its figures, ' +
      'training curves, per-seed values and run records. Also: <a href="../table.md">table.md</a>, <a href="../table.csv">table.csv</a>.</p>' +
      (data.mixed_code ? '<p class="warning mixed-code">' + esc(data.mixed_code) + "</p>" : "")));
    var sum = h("div", {}, summaryHtml(data.summary));
    app.appendChild(sum);
    sum.addEventListener("click", function (ev) { var tr = ev.target.closest("tr[data-row]"); if (tr) openDetail(+tr.dataset.row); });
    var bar = h("div", { "class": "filters" }), count = h("span", { "class": "count" });
    var columns = data.key.map(function (k) {
      return { label: keyLabels[k] || k, title: k, numeric: k === "latent_dim", value: function (r) { return r[k]; },
        cell: function (r) { return esc(r[k]); } };
    });
    columns.push({ label: "n", title: "finished seeds", numeric: true, value: function (r) { return r.n_seeds; },
      cell: function (r) { return esc(r.n_seeds) + (r.n_diverged ? ' <span class="diverged" title="runs that diverged (NaN/inf loss), left out of the means">⚠ ' + r.n_diverged + " diverged</span>" : ""); } });
    metrics.forEach(function (m) {
      columns.push({ label: esc(m.name) + (m.arrow ? " " + m.arrow : "") + (m.unit ? '<small>' + esc(m.unit) + "</small>" : ""),
        title: m.name + ": " + m.direction + (m.unit ? "; " + m.unit : "") + (m.description ? ". " + m.description : ""), numeric: true,
        value: function (r) { var c = r.cells[m.name]; return c ? c.mean : null; },
        cls: m.higher == null ? "info-col" : "",
        // n only where it differs from the row's (a metric some seeds lack), not in every cell
        cell: function (r) { var c = r.cells[m.name]; return c ? meanStd(c) + (c.n !== r.n_seeds ? ' <span class="n">n=' + c.n + "</span>" : "") : ""; } });
    });
    var info = metrics.filter(function (m) { return m.higher == null; }).map(function (m) { return m.name; });
    var filters = {};
    var table;
    function apply() {
      table.setFilter(function (r) {
        for (var k in filters) if (filters[k] !== "" && String(r[k]) !== filters[k]) return false;
        return true;
      });
      Array.prototype.forEach.call(app.querySelectorAll(".chart"), function (f) {
        f.hidden = filters.dataset ? f.dataset.dataset !== filters.dataset : false;
      });
    }
    [["dataset", "dataset"], ["model", "model"], ["latent dim", "latent_dim"]].forEach(function (p) {
      bar.appendChild(select(p[0], p[1], uniq(rows.map(function (r) { return r[p[1]]; })), function (ev) {
        filters[p[1]] = ev.target.value; apply();
      }));
    });
    bar.appendChild(count);
    if (info.length) {  // informational columns (never judged): folded away until asked for
      var toggle = h("button", { type: "button", "class": "toggle-info", "aria-pressed": "false" },
        "show informational columns (" + esc(info.join(", ")) + ")");
      toggle.addEventListener("click", function () {
        var on = table.table.classList.toggle("hide-info");
        toggle.setAttribute("aria-pressed", String(!on));
        toggle.textContent = (on ? "show" : "hide") + " informational columns (" + info.join(", ") + ")";
        table.pin();
      });
      bar.appendChild(toggle);
    }
    app.appendChild(bar);
    var wrap = h("div", { "class": "tablewrap" });
    app.appendChild(wrap);
    table = new Table(wrap, columns, rows, function (r, i) {
      return 'data-row="' + i + '" tabindex="0"' + (r.n_diverged ? ' class="has-diverged"' : "");
    });
    table.id = table.table.id = "results"; table.sticky = data.key.length;
    if (info.length) table.table.classList.add("hide-info");
    table.pin();
    table.onRender = function (n) { count.textContent = n + " of " + rows.length + " rows"; };
    table.onRender(rows.length);
    wrap.addEventListener("click", function (ev) { var tr = ev.target.closest("tr[data-row]"); if (tr) openDetail(+tr.dataset.row); });
    wrap.addEventListener("keydown", function (ev) {
      var tr = ev.target.closest("tr[data-row]"); if (tr && ev.key === "Enter") openDetail(+tr.dataset.row);
    });
    app.appendChild(h("section", { "class": "legend" }, "<h2>Metrics</h2><dl>" + metrics.map(function (m) {
      return "<dt>" + esc(m.name) + (m.arrow ? " " + m.arrow : "") + "</dt><dd>" + esc(m.direction) + (m.unit ? "; " + esc(m.unit) : "") +
        (m.description ? ". " + esc(m.description) : "") + (m.why ? ". Informational: " + esc(m.why) : "") + "</dd>";
    }).join("") + "</dl><p>↑ higher is better, ↓ lower is better, no arrow: informational (shown, never judged). " +
      '<span class="diverged">⚠ diverged</span>: runs whose loss became NaN/inf, counted but left out of the means.</p>'));
    var charts = h("section", { "class": "charts" }, "<h2>Against latent dimension</h2><p>Mean over seeds, error bars ± one sample std; one colour per model (as in the PNGs).</p>");
    var grid = h("div", { "class": "chartgrid" });
    grid.innerHTML = data.charts.map(function (c) {
      c.meta = byName[c.metric]; c.protocols = uniq(c.series.map(function (s) { return s.protocol; })).length;
      return chart(c, data.marks.filter(function (mk) { return mk.dataset === c.dataset && mk.metric === c.metric; }));
    }).join("");
    charts.appendChild(h("div", {}, sharedLegend(data.charts)));
    charts.appendChild(grid);
    app.appendChild(charts);
    var panel = h("aside", { id: "detail", hidden: "" });
    document.body.appendChild(panel);
    function openDetail(i) {
      var r = rows[i], names = metrics.map(function (m) { return m.name; });
      var title = data.key.map(function (k) { return k === "latent_dim" ? "z=" + r[k] : r[k]; }).join(" / ");
      var figs = r.figures.length ? r.figures.map(function (f) {
        return '<figure><img src="' + esc(f.src) + '" alt="' + esc(f.kind + ": " + title) + '"><figcaption>' + esc(f.kind.replace("_", " ")) + "</figcaption></figure>";
      }).join("") : "<p>No image figures stored for this configuration (figures are drawn for the protocol's figure_latent_dims).</p>";
      var seeds = "<table class=\"data\"><thead><tr><th>seed</th><th>status</th><th class=\"num\" title=\"wall time of the run: training + evaluation\">wall</th>" +
        "<th class=\"num\">train</th><th class=\"num\">epochs</th>" + names.map(function (n) { return '<th class="num">' + esc(n) + "</th>"; }).join("") +
        "<th>record</th></tr></thead><tbody>" + r.runs.map(function (u) {
          var t = u.record.times || {}, tr = u.record.train || {};
          return '<tr class="' + (u.status === "ok" ? "" : "has-diverged") + '"><td>' + esc(u.seed) + "</td><td>" + esc(u.status) + "</td>" +
            '<td class="num wall">' + seconds(t.total_s) + '</td><td class="num">' + seconds(t.train_s) + '</td><td class="num">' + (tr.epochs != null ? esc(tr.epochs) : "—") + "</td>" +
            names.map(function (n) { return '<td class="num">' + num(u.metrics[n]) + "</td>"; }).join("") +
            "<td>" + (u.href ? '<a href="' + esc(u.href) + '">' + esc(u.record.run_id) + ".json</a>" : esc(u.record.run_id)) + "</td></tr>";
        }).join("") + "</tbody></table>";
      var records = r.runs.map(function (u) {
        var rec = u.record, spec = Object.assign({}, rec.spec || {}), protocol = spec.protocol; delete spec.protocol;
        var sums = { dataset: (rec.dataset || {}).checksum, fid_backbone_weights: (rec.fid_protocol || {}).backbone_weights_sha256 };
        return "<details><summary>" + esc(rec.run_id) + " (seed " + esc(u.seed) + ", " + esc(u.status) + ")" +
          (u.href ? ' — <a href="' + esc(u.href) + '">JSON</a>' : "") + "</summary><h4>spec</h4>" + json(spec) + "<h4>protocol</h4>" + json(protocol) +
          "<h4>provenance</h4>" + json(rec.provenance) + "<h4>checksums</h4>" + json(sums) + "<h4>dataset</h4>" + json(rec.dataset) +
          (rec.train ? "<h4>training</h4>" + json(rec.train) : "") + (rec.diverged_at_step != null ? "<h4>diverged</h4>" + json({ step: rec.diverged_at_step, value: rec.diverged_value }) : "") + "</details>";
      }).join("");
      panel.innerHTML = '<button type="button" class="close" aria-label="close">×</button><h2>' + esc(title) + "</h2>" +
        (r.n_diverged ? '<p class="diverged">⚠ ' + r.n_diverged + " of " + r.runs.length + " runs diverged (left out of the means)</p>" : "") +
        curvesHtml(r) + "<h3>Per-seed values</h3><div class=\"tablewrap\">" + seeds + "</div>" +
        '<h3>Figures</h3><div class="figures">' + figs + "</div><h3>Run records</h3>" + records;
      panel.hidden = false;
      panel.querySelector(".close").addEventListener("click", function () { panel.hidden = true; });
      panel.scrollTop = 0;
      window.vaebench.detail = i;
    }
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") panel.hidden = true; });
    window.vaebench = { table: table, openDetail: openDetail, detail: null };
  }

  /* ------------------------------------------------------------------ comparison page */
  function compare() {
    var e = data.entries, reg = e.filter(function (x) { return x.status === "REGRESSION"; }).length;
    app.appendChild(h("header", {}, "<h1>" + esc(data.title) + "</h1><ul><li>candidate: " + esc(data.candidate) + "</li><li>baseline: " +
      esc(data.baseline) + "</li><li>regression: worse than the baseline by more than the tolerance" + (data.tolerance_only ? "" :
      ", and significantly worse (Welch's t-test, two-sided, α = " + esc(data.alpha) + ") when both sides have ≥ 2 seeds") + "</li></ul>" +
      '<p class="result ' + (reg ? "regression" : "within") + '">' + (reg ? reg + " regression" + (reg > 1 ? "s" : "") : "No regression") +
      " in " + e.length + " compared values (exit " + esc(data.exit_code) + ").</p>" +
      (data.status_vs_verdict ? '<p class="note">' + esc(data.status_vs_verdict) + "</p>" : "")));
    var chips = h("div", { "class": "filters" }), active = {};
    data.verdicts.forEach(function (v) {
      var n = data.counts[v.word] || 0;
      var b = h("button", { type: "button", "class": "chip " + v["class"], "aria-pressed": "false" }, esc(v.word) + " <b>" + n + "</b>");
      if (v["class"] !== "notcomparable") b.addEventListener("click", function () {
        active[v["class"]] = !active[v["class"]]; b.setAttribute("aria-pressed", String(!!active[v["class"]])); apply();
      });
      chips.appendChild(b);
    });
    app.appendChild(chips);
    var filters = {}, bar = h("div", { "class": "filters" });
    [["dataset", "dataset"], ["model", "model"], ["metric", "metric"]].forEach(function (p) {
      bar.appendChild(select(p[0], p[1], uniq(e.map(function (x) { return x[p[1]]; })), function (ev) { filters[p[1]] = ev.target.value; apply(); }));
    });
    app.appendChild(bar);
    function side(s) { return meanStd(s) + ' <span class="n">n=' + s.n + "</span>"; }
    var cols = [
      { label: "verdict", value: function (x) { return x.word; }, cell: function (x) { return '<span class="badge ' + x["class"] + '" title="' + esc(x.status) + '">' + esc(x.word) + "</span>"; } },
      { label: "dataset", value: function (x) { return x.dataset; }, cell: function (x) { return esc(x.dataset); } },
      { label: "model", value: function (x) { return x.model; }, cell: function (x) { return esc(x.model); } },
      { label: "z", numeric: true, value: function (x) { return x.latent_dim; }, cell: function (x) { return esc(x.latent_dim); } },
      { label: "protocol", value: function (x) { return x.protocol; }, cell: function (x) { return esc(x.protocol + (x.base_protocol && x.base_protocol !== x.protocol ? " vs " + x.base_protocol : "")); } },
      { label: "metric", value: function (x) { return x.metric; }, cell: function (x) { return esc(x.metric + (x.arrow ? " " + x.arrow : "")); } },
      { label: "candidate", numeric: true, value: function (x) { return x.cand.mean; }, cell: function (x) { return side(x.cand); } },
      { label: "baseline", numeric: true, value: function (x) { return x.base.mean; }, cell: function (x) { return side(x.base); } },
      { label: "Δ", title: "candidate − baseline", numeric: true, value: function (x) { return x.delta; }, cell: function (x) { return num(x.delta, 3); } },
      { label: "Δ%", title: "relative to |baseline|", numeric: true, value: function (x) { return x.rel; }, cell: function (x) { return x.rel == null ? "—" : (x.rel * 100).toFixed(1) + "%"; } },
      { label: "tolerance", title: "how much worse the candidate may be", value: function (x) { return x.tolerance; }, cell: function (x) { return esc(x.tolerance); } },
      { label: "p", title: "Welch's t-test, two-sided", numeric: true, value: function (x) { return x.p; }, cell: function (x) { return x.p == null ? "—" : num(x.p, 2); } },
      { label: "compare says", value: function (x) { return x.verdict; }, cell: function (x) { return esc(x.verdict); } },
    ];
    var wrap = h("div", { "class": "tablewrap" });
    app.appendChild(wrap);
    var table = new Table(wrap, cols, e, function (x) { return 'class="v-' + x["class"] + '"'; });
    function apply() {
      var any = Object.keys(active).some(function (k) { return active[k]; });
      table.setFilter(function (x) {
        if (any && !active[x["class"]]) return false;
        for (var k in filters) if (filters[k] !== "" && String(x[k]) !== filters[k]) return false;
        return true;
      });
    }
    var more = "<p>↑ higher is better, ↓ lower is better; Δ = candidate − baseline; tolerance: how much worse the candidate may be " +
      "(relative to |baseline| or absolute, whichever is larger); — = reported, never a regression.</p>";
    if (data.unpaired.length) more += '<h2>Rows without a comparison</h2><ul class="unpaired">' + data.unpaired.map(function (u) {
      return '<li><span class="badge ' + u["class"] + '">' + esc(u.word) + "</span> " + esc(u.row) + "</li>"; }).join("") + "</ul>";
    [["Metrics on one side only", data.one_sided_metrics], ["Warnings", data.warnings]].forEach(function (s) {
      if (s[1].length) more += "<h2>" + s[0] + "</h2><ul>" + s[1].map(function (t) { return "<li>" + esc(t) + "</li>"; }).join("") + "</ul>";
    });
    app.appendChild(h("section", {}, more));
    window.vaebench = { table: table };
  }

  (data.kind === "compare" ? compare : results)();
})();
