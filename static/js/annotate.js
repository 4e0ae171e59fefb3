/* Quill's document viewer (templates/documents/_viewer.html, on the document page and the inbox item page):
   pages, zoom, rotation, thumbnails, keyboard shortcuts, and annotations
   drawn as an SVG overlay on the page image (a PDF page rendered by the server, or the image itself).
   Geometry is stored as fractions of the page (0..1 from its top-left corner), so it fits any zoom;
   the overlay turns with the page, and pointer and arrow-key input are turned back into page terms.
   Marker and text note: click (or Enter). Highlight: drag (or Enter at two corners). Drawing: drag. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var XHTML = "http://www.w3.org/1999/xhtml";
  var VIEW_WIDTH = 1000;  // the overlay's own units across the page, whatever its size on screen
  var ZOOM_STEPS = [50, 75, 100, 125, 150, 200, 300, 400];
  var SIZES = [["standard", 1000], ["large", 2000], ["xlarge", 3200]];
  var UNDO_SECONDS = 8;

  var viewer = document.querySelector("[data-viewer]");
  if (!viewer) return;
  document.documentElement.classList.add("js");

  var annotator = viewer.querySelector("[data-annotator]");
  var image = annotator.querySelector("[data-surface]");
  var overlay = annotator.querySelector("[data-overlay]");
  var viewport = viewer.querySelector("[data-viewport]");
  var frame = viewer.querySelector("[data-page-frame]");
  var thumbs = viewer.querySelector("[data-thumbs]");
  var list = document.querySelector("[data-annotation-list]");
  var statusLine = viewer.querySelector("[data-annotate-status]");
  var noteInput = document.getElementById("annotation-text");
  var pageInput = viewer.querySelector("[data-page-number]");
  var pageCountLabel = viewer.querySelector("[data-page-count]");
  var prevButton = viewer.querySelector("[data-page-prev]");
  var nextButton = viewer.querySelector("[data-page-next]");
  var zoomSelect = viewer.querySelector("[data-zoom-level]");
  var zoomInButton = viewer.querySelector("[data-zoom-in]");
  var zoomOutButton = viewer.querySelector("[data-zoom-out]");
  var rotateButton = viewer.querySelector("[data-rotate]");
  var kind = viewer.dataset.kind;  // pdf | tiff | image
  var paged = kind !== "image";
  var pageUrl = viewer.dataset.pageUrl;  // …/pages/1/standard.webp
  var wordsUrl = viewer.dataset.wordsUrl;  // …/pages/0/words: boxes of the words a search found
  var query = new URLSearchParams(window.location.search);
  var startPage = Math.max(1, parseInt(query.get("page") || "1", 10) || 1);  // a search result opens its page
  var highlight = (query.get("hl") || "").slice(0, 200);
  var hits = {};  // page -> [{x, y, width, height}] as fractions of the page
  var apiUrl = annotator.dataset.apiUrl;
  var readonly = annotator.dataset.readonly === "true";
  var csrfInput = document.querySelector("input[name=csrfmiddlewaretoken]");
  var dataNode = document.getElementById("annotation-data");
  var annotations = dataNode ? JSON.parse(dataNode.textContent) : [];  // none where the page has no annotations (the inbox)

  var page = 1;
  var pageCount = paged ? 0 : 1;
  var pageSize = null;  // {w, h} at 100 %: CSS px (PDF points at 96 dpi; a scan's or image's pixels)
  var zoom = { mode: "width", percent: 100 };
  var rotation = 0;
  var shownSize = 0;  // width of the rendition on screen (0: none yet)
  var request = 0;  // the latest page request; older answers are dropped
  var loading = false;
  var laidOut = false;  // the page has been placed once (until then there is no "middle" to keep)
  var cursor = { x: 0.5, y: 0.5 };
  var keyboardCursor = false;
  var corner = null;
  var drag = null;
  if (overlay && readonly) overlay.setAttribute("data-readonly", "");

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

  /* --- geometry: page fractions <-> screen ----------------------------------------------------- */

  function aspect() { return pageSize ? pageSize.h / pageSize.w : 1.414; }
  function size() { return { w: VIEW_WIDTH, h: VIEW_WIDTH * aspect() }; }
  function turned() { return rotation % 180 !== 0; }

  /* The page turned clockwise by `rotation`: a point at (u, v) of the turned box is (x, y) on the page. */
  function toPage(u, v) {
    if (rotation === 90) return { x: v, y: 1 - u };
    if (rotation === 180) return { x: 1 - u, y: 1 - v };
    if (rotation === 270) return { x: 1 - v, y: u };
    return { x: u, y: v };
  }

  function screenStepToPage(du, dv) {
    if (rotation === 90) return [dv, -du];
    if (rotation === 180) return [-du, -dv];
    if (rotation === 270) return [-dv, du];
    return [du, dv];
  }

  function fraction(event) {
    var box = frame.getBoundingClientRect();
    var u = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    var v = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
    return toPage(u, v);
  }

  function clamp(value) { return Math.min(1, Math.max(0, value)); }
  function round(value) { return Math.round(value * 100000) / 100000; }

  /* --- layout: zoom and rotation --------------------------------------------------------------- */

  function available() {
    var style = getComputedStyle(viewport);
    return {
      w: viewport.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
      h: viewport.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom)
    };
  }

  function scale() {
    if (!pageSize) return 1;
    if (zoom.mode === "percent") return zoom.percent / 100;
    var room = available();
    var boxW = turned() ? pageSize.h : pageSize.w;
    var boxH = turned() ? pageSize.w : pageSize.h;
    var byWidth = Math.max(room.w, 50) / boxW;
    return zoom.mode === "page" ? Math.min(byWidth, Math.max(room.h, 50) / boxH) : byWidth;
  }

  function layout() {
    if (!pageSize) return;
    var before = { x: viewport.scrollLeft + viewport.clientWidth / 2, y: viewport.scrollTop + viewport.clientHeight / 2,
      w: viewport.scrollWidth, h: viewport.scrollHeight };
    var factor = scale();
    var hadSize = laidOut;
    laidOut = true;
    var width = pageSize.w * factor, height = pageSize.h * factor;
    frame.style.width = (turned() ? height : width) + "px";
    frame.style.height = (turned() ? width : height) + "px";
    annotator.style.width = width + "px";
    annotator.style.height = height + "px";
    annotator.style.transform = "translate(-50%, -50%) rotate(" + rotation + "deg)";
    if (hadSize) {  // keep the middle of what was on screen in the middle
      viewport.scrollLeft = before.x / before.w * viewport.scrollWidth - viewport.clientWidth / 2;
      viewport.scrollTop = before.y / before.h * viewport.scrollHeight - viewport.clientHeight / 2;
    }
    showZoom(Math.round(factor * 100));
    if (paged) sharpen(width);
  }

  function showZoom(percent) {
    if (!zoomSelect) return;
    zoomSelect.value = zoom.mode === "percent" ? String(zoom.percent) : zoom.mode;
    zoomSelect.options[0].textContent = "Fit width" + (zoom.mode === "width" ? " (" + percent + " %)" : "");
    zoomSelect.options[1].textContent = "Fit page" + (zoom.mode === "page" ? " (" + percent + " %)" : "");
    zoomOutButton.disabled = percent <= ZOOM_STEPS[0];
    zoomInButton.disabled = percent >= ZOOM_STEPS[ZOOM_STEPS.length - 1];
  }

  function setZoom(mode, percent) {
    zoom = { mode: mode, percent: percent || 100 };
    layout();
  }

  function stepZoom(direction) {
    var now = Math.round(scale() * 100);
    var steps = direction > 0 ? ZOOM_STEPS.filter(function (p) { return p > now; })
      : ZOOM_STEPS.filter(function (p) { return p < now; });
    if (!steps.length) return;
    setZoom("percent", direction > 0 ? steps[0] : steps[steps.length - 1]);
    say("Zoom " + zoom.percent + " %.");
  }

  function rotate() {
    rotation = (rotation + 90) % 360;
    layout();
    say("Turned to " + rotation + "\u00b0. Annotations still go where you point.");
  }

  /* --- pages: fetched at the size the screen needs ------------------------------------------------ */

  function sizedUrl(number, name) {
    return pageUrl.replace(/\/pages\/\d+\/[a-z]+\.webp$/, "/pages/" + number + "/" + name + ".webp");
  }

  function sizeFor(cssWidth) {
    var needed = cssWidth * (window.devicePixelRatio || 1);
    for (var i = 0; i < SIZES.length; i++) if (SIZES[i][1] >= needed) return SIZES[i];
    return SIZES[SIZES.length - 1];
  }

  function sharpen(cssWidth) {
    var wanted = sizeFor(cssWidth);
    if (shownSize && !loading && wanted[1] > shownSize) load(page, wanted);
  }

  function load(number, chosen) {
    var mine = ++request;
    loading = true;
    return fetch(sizedUrl(number, chosen[0]), { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      var facts = (response.headers.get("X-Page-Size") || "").split(" ").map(parseFloat);
      var count = parseInt(response.headers.get("X-Page-Count") || "1", 10);
      return response.blob().then(function (blob) { return { blob: blob, facts: facts, count: count }; });
    }).then(function (answer) {
      if (mine !== request) return;
      loading = false;
      var changed = number !== page;
      page = number;
      pageCount = answer.count;
      if (answer.facts.length === 2 && answer.facts[0] > 0) {
        var unit = kind === "pdf" ? 96 / 72 : 1;
        pageSize = { w: answer.facts[0] * unit, h: answer.facts[1] * unit };
      }
      shownSize = chosen[1];
      if (image.src.indexOf("blob:") === 0) URL.revokeObjectURL(image.src);
      image.src = URL.createObjectURL(answer.blob);
      image.alt = image.alt.replace(/page \d+$/, "page " + number);
      if (changed) { corner = null; drag = null; }
      showPager();
      layout();
      draw();
      findHits(number);
    }).catch(function () {
      if (mine !== request) return;
      loading = false;
      say("Page " + number + " could not be shown.");
    });
  }

  function findHits(number) {
    if (!highlight || !wordsUrl || hits[number]) return;
    hits[number] = [];
    var url = wordsUrl.replace("/pages/0/", "/pages/" + number + "/") + "?q=" + encodeURIComponent(highlight);
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.json() : { boxes: [] };
    }).then(function (answer) {
      hits[number] = answer.boxes || [];
      if (page === number) {
        draw();
        if (hits[number].length) say(hits[number].length + " match" + (hits[number].length === 1 ? "" : "es") + " for “" + highlight + "” highlighted on page " + number + ".");
      }
    }).catch(function () { hits[number] = []; });
  }

  function showPage(number) {
    if (!paged || number < 1 || (pageCount && number > pageCount) || number === page && shownSize) return;
    shownSize = 0;
    var guess = pageSize ? pageSize.w * scale() : available().w;
    load(number, sizeFor(guess)).then(function () { if (page === number) say("Page " + number + " of " + pageCount + "."); });
  }

  function showPager() {
    if (pageInput) { pageInput.value = page; pageInput.max = pageCount; }
    if (pageCountLabel) pageCountLabel.textContent = pageCount;
    if (prevButton) prevButton.disabled = page <= 1;
    if (nextButton) nextButton.disabled = page >= pageCount;
    if (thumbs) {
      if (thumbs.children.length !== pageCount) buildThumbs();
      Array.prototype.forEach.call(thumbs.querySelectorAll("button"), function (button) {
        var current = button.dataset.thumb === String(page);
        if (current) { button.setAttribute("aria-current", "page"); } else { button.removeAttribute("aria-current"); }
      });
      var active = thumbs.querySelector("[aria-current]");
      if (active) reveal(active, thumbs.parentElement);
    }
  }

  /* Scroll `strip` (not the window, as scrollIntoView would) just enough to show `item`. */
  function reveal(item, strip) {
    var box = item.getBoundingClientRect(), room = strip.getBoundingClientRect();
    if (box.top < room.top) strip.scrollTop -= room.top - box.top;
    else if (box.bottom > room.bottom) strip.scrollTop += box.bottom - room.bottom;
    if (box.left < room.left) strip.scrollLeft -= room.left - box.left;
    else if (box.right > room.right) strip.scrollLeft += box.right - room.right;
  }

  function buildThumbs() {
    thumbs.textContent = "";
    for (var n = 1; n <= pageCount; n++) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.dataset.thumb = String(n);
      var picture = document.createElement("img");
      picture.loading = "lazy";
      picture.alt = "";
      picture.src = sizedUrl(n, "thumb");
      var label = document.createElement("span");
      label.textContent = "Page " + n;
      button.append(picture, label);
      item.append(button);
      thumbs.append(item);
    }
  }

  /* --- drawing the overlay ------------------------------------------------------------------------ */

  function node(tag, attrs) {
    var element = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (key) { element.setAttribute(key, attrs[key]); });
    return element;
  }

  function noteBox(annotation, s, radius) {
    var g = annotation.geometry;
    var fontSize = s.w * 0.018;
    var margin = s.w * 0.01;
    var minimum = s.w * 0.3;
    var x = g.x * s.w + radius;
    var room = s.w - x - margin;
    if (room < minimum) { x = s.w - minimum - margin; room = minimum; }  // near the right edge: wrap leftwards
    var y = Math.max(0, g.y * s.h - fontSize * 0.8);
    var box = node("foreignObject", { x: x, y: y, width: room, height: Math.max(s.h - y, fontSize * 2) });
    var note = document.createElementNS(XHTML, "div");
    note.className = "note";
    note.textContent = annotation.text;
    note.style.fontSize = fontSize + "px";
    box.append(note);
    return box;
  }

  function shapeFor(annotation) {
    var s = size();
    var g = annotation.geometry;
    var group = node("g", { "class": "annotation annotation-" + annotation.kind, "data-id": annotation.id || "" });
    var radius = s.w * 0.012;
    if (annotation.kind === "marker") {
      group.append(node("circle", { cx: g.x * s.w, cy: g.y * s.h, r: radius }));
    } else if (annotation.kind === "highlight") {
      group.append(node("rect", { x: g.x * s.w, y: g.y * s.h, width: g.width * s.w, height: g.height * s.h }));
    } else if (annotation.kind === "drawing") {
      var points = g.points.map(function (p) { return (p[0] * s.w).toFixed(1) + "," + (p[1] * s.h).toFixed(1); });
      group.append(node("polyline", { points: points.join(" ") }));
    } else if (annotation.kind === "text") {
      group.append(node("rect", { x: g.x * s.w - radius / 2, y: g.y * s.h - radius / 2, width: radius, height: radius, "class": "pin" }));
      group.append(noteBox(annotation, s, radius));
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
    (hits[page] || []).forEach(function (box) {
      overlay.append(node("rect", {
        "class": "search-hit", x: (box.x * s.w).toFixed(1), y: (box.y * s.h).toFixed(1),
        width: (box.width * s.w).toFixed(1), height: (box.height * s.h).toFixed(1)
      }));
    });
    annotations.filter(function (a) { return a.page === page && !a.pendingDelete; })
      .forEach(function (a) { overlay.append(shapeFor(a)); });
    if (drag && drag.preview) overlay.append(drag.preview);
    if (keyboardCursor && document.activeElement === overlay && !readonly) {
      var r = s.w * 0.02;
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

  /* --- saving and deleting through the API ------------------------------------------------------ */

  function describe(a) {
    var kinds = { marker: "Marker", highlight: "Highlight", drawing: "Freehand drawing", text: "Text note" };
    return kinds[a.kind] + " on page " + a.page + (a.text ? ": \u201c" + a.text + "\u201d" : "");
  }

  function listItem(a) {
    var item = document.createElement("li");
    item.dataset.annotationId = a.id;
    var label = document.createElement("span");
    label.className = "annotation-kind kind-" + a.kind;
    label.textContent = describe(a);
    var who = document.createElement("span");
    who.className = "muted";
    who.textContent = " \u2014 " + a.author.name + ", just now";
    item.append(label, who);
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

  function save(kindOfNote, geometry) {
    var text = noteInput ? noteInput.value.trim() : "";
    if (kindOfNote === "text" && !text) {
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
      if (kindOfNote === "text" && noteInput) noteInput.value = "";
      say(describe(body) + " saved.");
      draw();
    };
    xhr.onerror = function () { say("The annotation was not saved: the connection failed."); };
    xhr.send(JSON.stringify({ kind: kindOfNote, page: page, geometry: geometry, text: kindOfNote === "text" ? text : "" }));
  }

  /* Deleting waits UNDO_SECONDS before it is sent, so Undo simply never sends it: the server (and
     the audit trail) only ever learns of deletes that happened. Leaving the page sends what is due. */
  var pending = null;

  function findAnnotation(id) { return annotations.filter(function (a) { return a.id === id; })[0]; }

  function sendDelete(entry, keepalive) {
    var options = { method: "DELETE", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" } };
    return fetch(apiUrl + entry.id + "/", options).then(function (response) {
      if (response.status === 204 || response.status === 404) {
        annotations = annotations.filter(function (a) { return a.id !== entry.id; });
        entry.item.remove();
        say("Annotation deleted.");
        return;
      }
      return response.json().catch(function () { return {}; }).then(function (body) {
        restore(entry);
        say(body.detail && body.detail.message ? body.detail.message : "The annotation was not deleted.");
      });
    }).catch(function () {
      restore(entry);
      say("The annotation was not deleted: the connection failed.");
    });
  }

  function restore(entry) {
    var annotation = findAnnotation(entry.id);
    if (annotation) delete annotation.pendingDelete;
    entry.item.classList.remove("pending-delete");
    var notice = entry.item.querySelector(".undo-notice");
    if (notice) notice.remove();
    draw();
  }

  function commitPending(keepalive) {
    if (!pending) return;
    var entry = pending;
    pending = null;
    clearTimeout(entry.timer);
    sendDelete(entry, keepalive);
  }

  function startDelete(item) {
    commitPending(false);
    var id = item.dataset.annotationId;
    var annotation = findAnnotation(id);
    if (annotation) annotation.pendingDelete = true;
    var what = annotation ? describe(annotation) : "Annotation";
    item.classList.add("pending-delete");
    var notice = document.createElement("span");
    notice.className = "undo-notice";
    notice.textContent = what + " deleted \u2014 ";
    var undo = document.createElement("button");
    undo.type = "button";
    undo.className = "button small";
    undo.dataset.undoDelete = "";
    undo.innerHTML = 'Undo<span class="visually-hidden"> deleting this annotation</span>';
    notice.append(undo);
    item.append(notice);
    pending = { id: id, item: item, timer: setTimeout(function () { commitPending(false); }, UNDO_SECONDS * 1000) };
    say(what + " deleted. Undo within " + UNDO_SECONDS + " seconds to keep it.");
    undo.focus();
    draw();
  }

  if (list) list.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-annotation-delete]");
    if (!form) return;
    event.preventDefault();
    startDelete(form.closest("li"));
  });

  if (list) list.addEventListener("click", function (event) {
    if (!event.target.closest("[data-undo-delete]") || !pending) return;
    var entry = pending;
    pending = null;
    clearTimeout(entry.timer);
    restore(entry);
    var button = entry.item.querySelector("[data-annotation-delete] button");
    if (button) button.focus();
    say("Kept: nothing was deleted.");
  });

  window.addEventListener("pagehide", function () { commitPending(true); });

  /* --- pointer ----------------------------------------------------------------------------------- */

  function hideCursor() {
    if (!keyboardCursor) return;
    keyboardCursor = false;
    corner = null;
    draw();
  }

  overlay.addEventListener("pointermove", function (event) {
    if (event.pointerType === "mouse" || event.pointerType === "pen") hideCursor();
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

  overlay.addEventListener("pointerdown", function (event) {
    hideCursor();
    if (readonly || event.button !== 0) return;
    overlay.setPointerCapture(event.pointerId);
    var start = fraction(event);
    drag = { kind: tool(), start: start, points: [[start.x, start.y]], preview: null };
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

  /* --- keyboard: the cross on the page, and the viewer's shortcuts -------------------------------- */

  overlay.addEventListener("focus", function () {
    keyboardCursor = overlay.matches(":focus-visible");
    draw();
  });
  overlay.addEventListener("blur", function () { corner = null; draw(); });
  overlay.addEventListener("keydown", function (event) {
    if (readonly || event.ctrlKey || event.metaKey || event.altKey) return;
    var step = event.shiftKey ? 0.1 : 0.02;
    var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      event.preventDefault();
      keyboardCursor = true;
      var delta = screenStepToPage(moves[event.key][0], moves[event.key][1]);
      cursor.x = clamp(cursor.x + delta[0]);
      cursor.y = clamp(cursor.y + delta[1]);
      draw();
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      keyboardCursor = true;
      var chosen = tool();
      if (chosen === "highlight") {
        if (!corner) { corner = { x: cursor.x, y: cursor.y }; say("First corner set; move to the opposite corner and press Enter."); }
        else {
          var width = Math.abs(cursor.x - corner.x), height = Math.abs(cursor.y - corner.y);
          if (width && height) save("highlight", { x: round(Math.min(corner.x, cursor.x)), y: round(Math.min(corner.y, cursor.y)), width: round(width), height: round(height) });
          corner = null;
        }
      } else if (chosen === "drawing") {
        say("Freehand drawing needs a mouse, pen or finger; use a marker, highlight or note with the keyboard.");
      } else {
        save(chosen, { x: round(cursor.x), y: round(cursor.y) });
      }
      draw();
    } else if (event.key === "Escape") {
      corner = null;
      draw();
    }
  });

  var SHORTCUTS = {
    n: function () { showPage(page + 1); },
    p: function () { showPage(page - 1); },
    "+": function () { stepZoom(1); },
    "=": function () { stepZoom(1); },
    "-": function () { stepZoom(-1); },
    w: function () { setZoom("width"); say("Fit width."); },
    f: function () { setZoom("page"); say("Fit page."); },
    r: rotate
  };

  viewer.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if (event.target.closest("input, select, textarea, [contenteditable]")) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : "";
    var action = SHORTCUTS[key];
    if (!action || (!paged && (key === "n" || key === "p"))) return;
    event.preventDefault();
    action();
  });

  /* --- controls ----------------------------------------------------------------------------------- */

  if (zoomSelect) {
    zoomSelect.addEventListener("change", function () {
      var value = zoomSelect.value;
      if (value === "width" || value === "page") setZoom(value);
      else setZoom("percent", parseInt(value, 10));
    });
    zoomInButton.addEventListener("click", function () { stepZoom(1); });
    zoomOutButton.addEventListener("click", function () { stepZoom(-1); });
  }
  if (rotateButton) rotateButton.addEventListener("click", rotate);
  if (prevButton) prevButton.addEventListener("click", function () { showPage(page - 1); });
  if (nextButton) nextButton.addEventListener("click", function () { showPage(page + 1); });
  if (pageInput) pageInput.addEventListener("change", function () {
    var wanted = parseInt(pageInput.value, 10) || 1;
    if (wanted < 1 || wanted > pageCount) { pageInput.value = page; say("This document has " + pageCount + " pages."); return; }
    showPage(wanted);
  });
  if (thumbs) thumbs.addEventListener("click", function (event) {
    var button = event.target.closest("[data-thumb]");
    if (button) showPage(parseInt(button.dataset.thumb, 10));
  });

  var resizing = 0;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { if (zoom.mode !== "percent") layout(); }, 100);
  });

  var pdfViewer = document.querySelector("[data-pdf-viewer]");
  if (pdfViewer) {
    pdfViewer.addEventListener("toggle", function () {
      var iframe = pdfViewer.querySelector("iframe");
      if (pdfViewer.open && iframe.getAttribute("src") === "about:blank") iframe.src = iframe.dataset.src;
    });
  }

  if (paged) {
    page = 0;
    showPage(startPage);
  } else {
    var ready = function () {
      pageSize = { w: image.naturalWidth || 1000, h: image.naturalHeight || 1000 };
      layout();
      draw();
      findHits(1);
    };
    image.addEventListener("load", ready);
    if (image.complete && image.naturalWidth) ready();
  }
})();
