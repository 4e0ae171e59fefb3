/* Quill uploads: several files, one XHR each to /api/documents/ with its own progress bar, then the
   virus check polled until it settles. Bulk page: one all-or-nothing request to /api/documents/bulk/.
   Without JavaScript the forms post to portal views that call the same services. */
(function () {
  "use strict";

  var SETTLED = { clean: true, infected: true, not_scanned: true, error: true };

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) node.textContent = text;
    return node;
  }

  function sharedFields(form, data, single) {
    ["category", "document_date", "encounter_id"].forEach(function (name) {
      var field = form.elements[name];
      if (field && field.value) data.append(name, field.value);
    });
    var title = form.elements.title;
    if (single && title && title.value) data.append("title", title.value);
    data.append("patient_id", form.dataset.patientId);
  }

  function refusalMessage(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body.detail && body.detail.message) return body.detail.message;
    } catch (ignored) { /* not JSON */ }
    if (xhr.status === 0) return "The connection was lost. Check the network and try again.";
    return "The upload failed (HTTP " + xhr.status + "). Please try again.";
  }

  function describeFiles(target, files) {
    if (!target) return;
    if (!files.length) { target.textContent = ""; return; }
    target.textContent = files.length === 1 ? "Chosen: " + files[0].name : files.length + " files chosen: " +
      Array.prototype.map.call(files, function (file) { return file.name; }).join(", ");
  }

  function wireDropzone(form, input) {
    var zone = form.querySelector("[data-dropzone]");
    var chosen = form.querySelector("[data-chosen]");
    input.addEventListener("change", function () { describeFiles(chosen, input.files); });
    if (!zone) return;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      describeFiles(chosen, input.files);
    });
  }

  /* --- refusing an incomplete form: GOV.UK's error summary, and each message by its field ---------- */

  function fieldError(field, message) {
    var container = field.closest(".field") || field.parentNode;
    var id = field.id + "_error";
    var existing = document.getElementById(id);
    if (existing) existing.remove();
    container.classList.toggle("has-error", Boolean(message));
    var described = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (part) {
      return part && part !== id;
    });
    if (!message) {
      field.removeAttribute("aria-invalid");
    } else {
      var error = el("p", { "class": "field-error", id: id }, message);
      if (field.type === "file") container.append(error); else field.insertAdjacentElement("beforebegin", error);
      field.setAttribute("aria-invalid", "true");
      described.push(id);
    }
    if (described.length) field.setAttribute("aria-describedby", described.join(" "));
    else field.removeAttribute("aria-describedby");
  }

  function clearErrorsOnChange(form, input) {
    input.addEventListener("change", function () { if (input.files.length) fieldError(input, ""); });
    var category = form.elements.category;
    if (category) category.addEventListener("change", function () { if (category.value) fieldError(category, ""); });
  }

  function checkComplete(form, input) {
    var problems = [];
    var category = form.elements.category;
    if (category && !category.value) problems.push([category, "Choose a category for the files."]);
    if (!input.files.length) problems.push([input, "Choose at least one file to upload."]);
    if (category) fieldError(category, category.value ? "" : "Choose a category for the files.");
    fieldError(input, input.files.length ? "" : "Choose at least one file to upload.");
    var summary = form.querySelector("[data-error-summary]");
    if (summary) summary.remove();
    if (!problems.length) return true;
    summary = el("div", { "class": "error-summary", role: "alert", tabindex: "-1", "data-error-summary": "" });
    summary.append(el("h3", { "class": "error-summary-title" }, "There is a problem"));
    var list = el("ul", {});
    problems.forEach(function (problem) {
      var link = el("a", { href: "#" + problem[0].id }, problem[1]);
      link.addEventListener("click", function (event) { event.preventDefault(); problem[0].focus(); });
      var item = el("li", {});
      item.append(link);
      list.append(item);
    });
    summary.append(list);
    form.prepend(summary);
    summary.focus();
    return false;
  }

  /* --- several files, one request each ---------------------------------------------------- */

  function pollStatus(form, row, documentId, delay) {
    var url = form.dataset.statusUrl.replace("00000000-0000-0000-0000-000000000000", documentId);
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      if (xhr.status !== 200) { setState(row, "error", "Could not check the virus scan; reload the page."); return done(form); }
      var body = JSON.parse(xhr.responseText);
      setState(row, body.scan_status, body.label);
      if (SETTLED[body.scan_status]) {
        var link = row.querySelector(".upload-link");
        if (body.available && !link) {
          link = el("a", { href: body.url, "class": "upload-link" }, "Open");
          row.querySelector(".upload-state").after(link);
        }
        done(form);
      } else {
        setTimeout(function () { pollStatus(form, row, documentId, Math.min(delay * 1.5, 5000)); }, delay);
      }
    };
    xhr.onerror = function () { setTimeout(function () { pollStatus(form, row, documentId, 5000); }, 5000); };
    xhr.send();
  }

  function setState(row, state, label) {
    var badge = row.querySelector(".upload-state");
    badge.className = "badge upload-state badge-" + state;
    badge.textContent = label;
    row.dataset.state = state;
  }

  function done(form) {
    var rows = form.querySelectorAll("[data-upload-list] li");
    Array.prototype.forEach.call(rows, function (row) {
      if (SETTLED[row.dataset.state] || row.dataset.state === "refused") row.dataset.final = "1";
    });
    var open = Array.prototype.some.call(rows, function (row) { return !row.dataset.final; });
    if (!open) form.querySelector("[data-upload-done]").hidden = false;
  }

  function uploadOne(form, file, single, list) {
    var row = el("li", { "class": "upload-row" });
    var name = el("span", { "class": "upload-name" }, file.name);
    var bar = el("progress", { max: "100", value: "0", "aria-label": "Uploading " + file.name });
    var state = el("span", { "class": "badge upload-state" }, "Uploading");
    var message = el("p", { "class": "upload-error", role: "alert" });
    message.hidden = true;
    row.append(name, bar, state, message);
    list.append(row);

    var data = new FormData();
    data.append("file", file, file.name);
    sharedFields(form, data, single);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.apiUrl);
    xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
    };
    xhr.onload = function () {
      if (xhr.status === 201) {
        bar.value = 100;
        var body = JSON.parse(xhr.responseText);
        setState(row, body.scan_status, body.scan_status === "pending" ? "Waiting for virus scan" : body.scan_status);
        pollStatus(form, row, body.id, 700);
      } else {
        setState(row, "refused", "Refused");
        message.textContent = refusalMessage(xhr);
        message.hidden = false;
        done(form);
      }
    };
    xhr.onerror = function () {
      setState(row, "refused", "Failed");
      message.textContent = refusalMessage(xhr);
      message.hidden = false;
      done(form);
    };
    xhr.send(data);
  }

  function wireUploadForm(form) {
    var input = form.querySelector("input[type=file]");
    input.multiple = true;
    form.querySelector(".dropzone-title").textContent = "Choose files";
    wireDropzone(form, input);
    clearErrorsOnChange(form, input);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!checkComplete(form, input)) return;
      var list = form.querySelector("[data-upload-list]");
      form.querySelector("[data-upload-done]").hidden = true;
      var files = Array.prototype.slice.call(input.files);
      files.forEach(function (file) { uploadOne(form, file, files.length === 1, list); });
      input.value = "";
      describeFiles(form.querySelector("[data-chosen]"), []);
    });
  }

  /* --- bulk: one all-or-nothing request ------------------------------------------------------ */

  function outcomeBadge(outcome) {
    if (outcome === "stored") return el("span", { "class": "badge badge-clean" }, "Stored");
    if (outcome === "refused") return el("span", { "class": "badge badge-error" }, "Refused");
    return el("span", { "class": "badge" }, "Not stored");
  }

  function showBulkResults(form, body) {
    var section = document.querySelector("[data-bulk-results]");
    var rows = section.querySelector("[data-bulk-rows]");
    rows.textContent = "";
    (body.files || []).forEach(function (file) {
      var tr = el("tr", { "class": "outcome-" + file.outcome });
      var details = el("td");
      if (file.document) {
        details.append(el("a", { href: form.dataset.detailUrl.replace("00000000-0000-0000-0000-000000000000", file.document.id) },
          file.document.title));
      } else {
        details.append(document.createTextNode((file.message || "") + " "), el("code", {}, file.error_code || ""));
      }
      var outcome = el("td");
      outcome.append(outcomeBadge(file.outcome));
      tr.append(el("td", {}, file.filename), outcome, details);
      rows.append(tr);
    });
    var totals = section.querySelector("[data-bulk-totals]");
    if (body.total !== undefined) {
      totals.textContent = body.stored + " stored, " + body.refused + " refused, " + body.total + " in total." +
        (body.refused ? " Nothing was stored." : "");
    } else {
      totals.textContent = body.detail ? body.detail.message : "The upload failed.";
    }
    section.hidden = false;
  }

  function wireBulkForm(form) {
    var input = form.querySelector("input[type=file]");
    var progress = form.querySelector("[data-bulk-progress]");
    wireDropzone(form, input);
    clearErrorsOnChange(form, input);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!checkComplete(form, input)) return;
      var data = new FormData();
      Array.prototype.forEach.call(input.files, function (file) { data.append("files", file, file.name); });
      sharedFields(form, data, input.files.length === 1);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.apiUrl);
      xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
      xhr.setRequestHeader("Accept", "application/json");
      progress.hidden = false;
      progress.value = 0;
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) progress.value = Math.round((e.loaded / e.total) * 100); };
      xhr.onload = function () {
        var body;
        try { body = JSON.parse(xhr.responseText); } catch (ignored) { body = { detail: { message: refusalMessage(xhr) } }; }
        showBulkResults(form, body);
      };
      xhr.onerror = function () { showBulkResults(form, { detail: { message: refusalMessage(xhr) } }); };
      xhr.send(data);
    });
  }

  document.documentElement.classList.add("js");
  document.querySelectorAll("[data-upload-form]").forEach(wireUploadForm);
  document.querySelectorAll("[data-bulk-form]").forEach(wireBulkForm);
})();
