// Catalog search over window.MESHC_INDEX (search-index.js): services,
// operations, topics and owners, matched by any part of their name or
// detail, case-insensitively. Results are built with textContent: the
// index holds names from the spec and schemas, never markup.
(function () {
  "use strict";
  var input = document.getElementById("search");
  var list = document.getElementById("results");
  var index = window.MESHC_INDEX;
  if (!input || !list || !index) {
    return;
  }
  var root = document.body.getAttribute("data-root") || "";
  var LIMIT = 50;
  function render() {
    var query = input.value.trim().toLowerCase();
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    if (!query) {
      list.hidden = true;
      return;
    }
    var shown = 0;
    for (var i = 0; i < index.length && shown < LIMIT; i++) {
      var entry = index[i];
      if (entry.name.toLowerCase().indexOf(query) < 0 && entry.detail.toLowerCase().indexOf(query) < 0) {
        continue;
      }
      var item = document.createElement("li");
      var kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = entry.kind;
      var link = document.createElement("a");
      link.href = root + entry.href;
      link.textContent = entry.name;
      var detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = entry.detail;
      item.appendChild(kind);
      item.appendChild(link);
      item.appendChild(detail);
      list.appendChild(item);
      shown++;
    }
    if (shown === 0) {
      var none = document.createElement("li");
      none.textContent = "Nothing matches \u201c" + input.value + "\u201d.";
      list.appendChild(none);
    }
    list.hidden = false;
  }
  input.addEventListener("input", render);
  render();
})();
