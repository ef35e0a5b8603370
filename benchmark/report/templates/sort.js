// Click (or Enter on) a column header to sort; a second click reverses. Numeric columns sort on
// the cell's data-value (missing values last either way); ties keep their current order (stable);
// pinned rows (the real-data bound) stay on top.
(function () {
  "use strict";
  function numeric(cell) {
    var v = cell ? cell.getAttribute("data-value") : null;
    return v === null || v === "" ? NaN : parseFloat(v);
  }
  function text(cell) {
    return cell ? (cell.getAttribute("data-value") || cell.textContent).trim().toLowerCase() : "";
  }
  function sortBy(table, th, col) {
    var first = th.getAttribute("data-first") || "ascending";
    var current = th.getAttribute("aria-sort");
    var dir = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
    var sign = dir === "ascending" ? 1 : -1;
    var isNum = th.getAttribute("data-sort") === "num";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var pinned = rows.filter(function (r) { return r.classList.contains("pinned"); });
    var items = rows.filter(function (r) { return !r.classList.contains("pinned"); }).map(function (r, i) {
      return { row: r, i: i, key: isNum ? numeric(r.cells[col]) : text(r.cells[col]) };
    });
    items.sort(function (a, b) {
      if (isNum) {
        var am = isNaN(a.key), bm = isNaN(b.key);
        if (am || bm) { return am === bm ? a.i - b.i : (am ? 1 : -1); }
        if (a.key !== b.key) { return sign * (a.key < b.key ? -1 : 1); }
      } else {
        var c = a.key.localeCompare(b.key);
        if (c !== 0) { return sign * c; }
      }
      return a.i - b.i;
    });
    pinned.concat(items.map(function (x) { return x.row; })).forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.leaderboard"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (!th.hasAttribute("data-sort")) { return; }
      th.tabIndex = 0;
      th.title = (th.title ? th.title + " — " : "") + "click to sort";
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
})();
