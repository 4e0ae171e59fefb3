/* Quill annotations: an SVG overlay on the preview image (or the rendered PDF page).
   Geometry is stored as fractions of the page (0..1), so it fits any display size.
   Marker and text note: click (or Enter). Highlight: drag (or Enter at two corners). Drawing: drag. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var annotator = document.querySelector("[data-annotator]");
  if (!annotator) return;
  document.documentElement.classList.add("js");

  var image = annotator.querySelector("[data-surface]");
  var overlay = annotator.querySelector("[data-overlay]");
  var list = document.querySelector("[data-annotation-list]");
  var statusLine = document.querySelector("[data-annotate-status]");
  var noteInput = document.getElementById("annotation-text");
  var pageInput = document.querySelector("[data-page-number]");
  var pageCountLabel = document.querySelector("[data-page-count]");
  var apiUrl = annotator.dataset.apiUrl;
  var multipage = annotator.dataset.multipage === "true";
  var readonly = annotator.dataset.readonly === "true";
  var pageUrl = annotator.dataset.pageUrl;
  var csrfInput = document.querySelector("input[name=csrfmiddlewaretoken]");
  var dataNode = document.getElementById("annotation-data");
  var annotations = dataNode ? JSON.parse(dataNode.textContent) : [];
  var page = 1;
  var pageCount = 1;
  var cursor = { x: 0.5, y: 0.5 };
  var corner = null;
  var drag = null;

  function csrfToken() {
    if (csrfInput) return csrfInput.value;
    var match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function say(text) { if (statusLine) statusLine.textContent = text; }

  function tool() {
    var checked = document.querySelector("input[name=annotation-tool]:checked");
    return checked ? checked.value : "marker";
  }

  function size() { return { w: image.naturalWidth || 1000, h: image.naturalHeight || 1000 }; }

  function node(tag, attrs) {
    var element = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (key) { element.setAttribute(key, attrs[key]); });
    return element;
  }

  function shapeFor(annotation) {
    var s = size();
    var g = annotation.geometry;
    var group = node("g", { "class": "annotation annotation-" + annotation.kind, "data-id": annotation.id || "" });
    var radius = Math.max(s.w, s.h) * 0.012;
    if (annotation.kind === "marker") {
      group.append(node("circle", { cx: g.x * s.w, cy: g.y * s.h, r: radius }));
    } else if (annotation.kind === "highlight") {
      group.append(node("rect", { x: g.x * s.w, y: g.y * s.h, width: g.width * s.w, height: g.height * s.h }));
    } else if (annotation.kind === "drawing") {
      var points = g.points.map(function (p) { return (p[0] * s.w).toFixed(1) + "," + (p[1] * s.h).toFixed(1); });
      group.append(node("polyline", { points: points.join(" ") }));
    } else if (annotation.kind === "text") {
      var fontSize = Math.max(s.w, s.h) * 0.018;
      group.append(node("rect", { x: g.x * s.w - radius / 2, y: g.y * s.h - radius / 2, width: radius, height: radius, "class": "pin" }));
      var label = node("text", { x: g.x * s.w + radius, y: g.y * s.h + fontSize / 3, "font-size": fontSize });
      label.textContent = annotation.text;
      group.append(label);
    }
    var title = node("title", {});
    title.textContent = (annotation.author ? annotation.author.name + ": " : "") + (annotation.text || annotation.kind);
    group.append(title);
    return group;
  }

  function draw() {
    var s = size();
    overlay.setAttribute("viewBox", "0 0 " + s.w + " " + s.h);
    overlay.setAttribute("preserveAspectRatio", "none");
    overlay.textContent = "";
    annotations.filter(function (a) { return a.page === page; }).forEach(function (a) { overlay.append(shapeFor(a)); });
    if (drag && drag.preview) overlay.append(drag.preview);
    if (overlay.classList.contains("keyboard")) {
      var r = Math.max(s.w, s.h) * 0.02;
      var cross = node("g", { "class": "cursor" });
      cross.append(node("line", { x1: cursor.x * s.w - r, y1: cursor.y * s.h, x2: cursor.x * s.w + r, y2: cursor.y * s.h }));
      cross.append(node("line", { x1: cursor.x * s.w, y1: cursor.y * s.h - r, x2: cursor.x * s.w, y2: cursor.y * s.h + r }));
      if (corner) {
        var x = Math.min(corner.x, cursor.x), y = Math.min(corner.y, cursor.y);
        cross.append(node("rect", { x: x * s.w, y: y * s.h, width: Math.abs(cursor.x - corner.x) * s.w,
          height: Math.abs(cursor.y - corner.y) * s.h, "class": "preview" }));
      }
      overlay.append(cross);
    }
  }

  function fraction(event) {
    var box = overlay.getBoundingClientRect();
    return {
      x: Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)),
      y: Math.min(1, Math.max(0, (event.clientY - box.top) / box.height))
    };
  }

  function round(value) { return Math.round(value * 100000) / 100000; }

  /* --- saving and deleting through the API ------------------------------------------------ */

  function describe(a) {
    var kinds = { marker: "Marker", highlight: "Highlight", drawing: "Freehand drawing", text: "Text note" };
    return kinds[a.kind] + " on page " + a.page + (a.text ? ": \u201c" + a.text + "\u201d" : "");
  }

  function listItem(a) {
    var item = document.createElement("li");
    item.dataset.annotationId = a.id;
    var kind = document.createElement("span");
    kind.className = "annotation-kind kind-" + a.kind;
    kind.textContent = describe(a);
    var who = document.createElement("span");
    who.className = "muted";
    who.textContent = " \u2014 " + a.author.name + ", just now";
    item.append(kind, who);
    if (a.can_delete) {
      var form = document.createElement("form");
      form.className = "inline";
      form.dataset.annotationDelete = "";
      var button = document.createElement("button");
      button.type = "submit";
      button.className = "button small danger";
      button.innerHTML = 'Delete<span class="visually-hidden"> this annotation</span>';
      form.append(button);
      item.append(form);
    }
    return item;
  }

  function save(kind, geometry) {
    var text = noteInput ? noteInput.value.trim() : "";
    if (kind === "text" && !text) {
      say("Write the note in \u201cNote text\u201d first, then click where it belongs.");
      if (noteInput) noteInput.focus();
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", apiUrl);
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.onload = function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (ignored) { /* not JSON */ }
      if (xhr.status !== 201) {
        say(body.detail && body.detail.message ? body.detail.message : "The annotation was not saved (HTTP " + xhr.status + ").");
        return;
      }
      annotations.push(body);
      var empty = list.querySelector("[data-annotation-empty]");
      if (empty) empty.remove();
      list.append(listItem(body));
      if (kind === "text" && noteInput) noteInput.value = "";
      say(describe(body) + " saved.");
      draw();
    };
    xhr.onerror = function () { say("The annotation was not saved: the connection failed."); };
    xhr.send(JSON.stringify({ kind: kind, page: page, geometry: geometry, text: kind === "text" ? text : "" }));
  }

  list.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-annotation-delete]");
    if (!form) return;
    event.preventDefault();
    var item = form.closest("li");
    var id = item.dataset.annotationId;
    var xhr = new XMLHttpRequest();
    xhr.open("DELETE", apiUrl + id + "/");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      if (xhr.status === 204) {
        annotations = annotations.filter(function (a) { return a.id !== id; });
        item.remove();
        say("Annotation deleted.");
        draw();
      } else {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (ignored) { /* not JSON */ }
        say(body.detail && body.detail.message ? body.detail.message : "The annotation was not deleted.");
      }
    };
    xhr.send();
  });

  /* --- pointer ------------------------------------------------------------------------------ */

  overlay.addEventListener("pointerdown", function (event) {
    if (readonly || event.button !== 0) return;
    overlay.setPointerCapture(event.pointerId);
    var start = fraction(event);
    drag = { kind: tool(), start: start, points: [[start.x, start.y]], preview: null };
  });

  overlay.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var here = fraction(event);
    var s = size();
    if (drag.kind === "highlight") {
      drag.preview = node("rect", { "class": "preview", x: Math.min(drag.start.x, here.x) * s.w,
        y: Math.min(drag.start.y, here.y) * s.h, width: Math.abs(here.x - drag.start.x) * s.w,
        height: Math.abs(here.y - drag.start.y) * s.h });
      draw();
    } else if (drag.kind === "drawing") {
      drag.points.push([here.x, here.y]);
      drag.preview = node("polyline", { "class": "preview", points: drag.points.map(function (p) {
        return (p[0] * s.w).toFixed(1) + "," + (p[1] * s.h).toFixed(1);
      }).join(" ") });
      draw();
    }
  });

  overlay.addEventListener("pointerup", function (event) {
    if (!drag) return;
    var current = drag;
    drag = null;
    var end = fraction(event);
    if (current.kind === "marker" || current.kind === "text") {
      save(current.kind, { x: round(end.x), y: round(end.y) });
    } else if (current.kind === "highlight") {
      var width = Math.abs(end.x - current.start.x), height = Math.abs(end.y - current.start.y);
      if (width < 0.005 || height < 0.005) { say("Drag across the area you want to highlight."); draw(); return; }
      save("highlight", { x: round(Math.min(end.x, current.start.x)), y: round(Math.min(end.y, current.start.y)),
        width: round(width), height: round(height) });
    } else if (current.kind === "drawing") {
      current.points.push([end.x, end.y]);
      var points = current.points.filter(function (p, i) { return i % Math.ceil(current.points.length / 1500) === 0; });
      if (points.length < 2) { say("Drag to draw."); draw(); return; }
      save("drawing", { points: points.map(function (p) { return [round(p[0]), round(p[1])]; }) });
    }
    draw();
  });

  /* --- keyboard ------------------------------------------------------------------------------ */

  overlay.addEventListener("focus", function () { overlay.classList.add("keyboard"); draw(); });
  overlay.addEventListener("blur", function () { overlay.classList.remove("keyboard"); corner = null; draw(); });
  overlay.addEventListener("keydown", function (event) {
    if (readonly) return;
    var step = event.shiftKey ? 0.1 : 0.02;
    var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      event.preventDefault();
      cursor.x = Math.min(1, Math.max(0, cursor.x + moves[event.key][0]));
      cursor.y = Math.min(1, Math.max(0, cursor.y + moves[event.key][1]));
      draw();
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      var kind = tool();
      if (kind === "highlight") {
        if (!corner) { corner = { x: cursor.x, y: cursor.y }; say("First corner set; move to the opposite corner and press Enter."); }
        else {
          var width = Math.abs(cursor.x - corner.x), height = Math.abs(cursor.y - corner.y);
          if (width && height) save("highlight", { x: round(Math.min(corner.x, cursor.x)), y: round(Math.min(corner.y, cursor.y)), width: round(width), height: round(height) });
          corner = null;
        }
      } else if (kind === "drawing") {
        say("Freehand drawing needs a mouse, pen or finger; use a marker, highlight or note with the keyboard.");
      } else {
        save(kind, { x: round(cursor.x), y: round(cursor.y) });
      }
      draw();
    } else if (event.key === "Escape") {
      corner = null;
      draw();
    }
  });

  /* --- pages (PDFs) -------------------------------------------------------------------------- */

  function showPage(number) {
    if (number < 1 || number > pageCount) return;
    var url = pageUrl.replace(/\/pages\/\d+\.webp$/, "/pages/" + number + ".webp");
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      pageCount = parseInt(response.headers.get("X-Page-Count") || "1", 10);
      return response.blob();
    }).then(function (blob) {
      page = number;
      if (image.src.indexOf("blob:") === 0) URL.revokeObjectURL(image.src);
      image.src = URL.createObjectURL(blob);
      image.alt = image.alt.replace(/page \d+$/, "page " + number);
      if (pageInput) { pageInput.value = number; pageInput.max = pageCount; }
      if (pageCountLabel) pageCountLabel.textContent = pageCount;
    }).catch(function () { say("Page " + number + " could not be shown."); });
  }

  if (multipage) {
    pageCount = 1;
    showPage(1);
    pageCount = Infinity;
    document.querySelector("[data-page-prev]").addEventListener("click", function () { showPage(page - 1); });
    document.querySelector("[data-page-next]").addEventListener("click", function () { showPage(page + 1); });
    pageInput.addEventListener("change", function () { showPage(parseInt(pageInput.value, 10) || 1); });
  }

  var viewer = document.querySelector("[data-pdf-viewer]");
  if (viewer) {
    viewer.addEventListener("toggle", function () {
      var frame = viewer.querySelector("iframe");
      if (viewer.open && frame.getAttribute("src") === "about:blank") frame.src = frame.dataset.src;
    });
  }

  image.addEventListener("load", draw);
  if (image.complete && image.naturalWidth) draw();
})();
