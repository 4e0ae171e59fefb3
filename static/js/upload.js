/* Quill uploads. Each chosen file gets a row of its own details (title, category, clinical date),
   starting from the shared values and editable before sending.
   Patient page: one XHR per file to /api/documents/ with its own progress bar, the virus check polled
   until it settles, and the documents list below refreshed in place (fetched again while any
   document on it is still being checked). Bulk page: one all-or-nothing request to
   /api/documents/bulk/ with each file's details in `titles`, `categories` and `document_dates`.
   Without JavaScript the forms post to portal views that call the same services, with shared values. */
(function () {
  "use strict";

  var SETTLED = { clean: true, infected: true, not_scanned: true, error: true };
  var PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";
  var nextId = 1;

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

  function refusalMessage(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body.detail && body.detail.message) return body.detail.message;
    } catch (ignored) { /* not JSON */ }
    if (xhr.status === 0) return "The connection was lost. Check the network and try again.";
    return "The upload failed (HTTP " + xhr.status + "). Please try again.";
  }

  function titleFromName(name) {
    var stem = name.replace(/\.[^.]*$/, "");
    return stem || name;
  }

  /* --- errors: GOV.UK's error summary, and each message by its field ------------------------------ */

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

  /* problems: [[element to focus, message], ...]; none removes the summary. */
  function showSummary(form, problems) {
    var summary = form.querySelector("[data-error-summary]");
    if (summary) summary.remove();
    if (!problems.length) return;
    summary = el("div", { "class": "error-summary", role: "alert", tabindex: "-1", "data-error-summary": "" });
    // h3 under the patient page's "Documents" heading; the bulk page's form sits under its h1.
    summary.append(el(form.dataset.summaryHeading || "h3", { "class": "error-summary-title" }, "There is a problem"));
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
  }

  /* --- the chosen files, each with its own details ------------------------------------------------ */

  function sharedField(form, name) {
    var field = form.elements[name];
    return field && field.tagName ? field : null;
  }

  function FileDetails(form, input) {
    this.form = form;
    this.input = input;
    this.rows = [];
    this.chosen = form.querySelector("[data-chosen]");
    this.table = null;
    var shared = sharedField(form, "title");
    if (shared) shared.closest(".field").hidden = true; // each file has its own title below
    var self = this;
    ["category", "document_date"].forEach(function (name) {
      var field = sharedField(form, name);
      if (!field) return;
      field.addEventListener("change", function () {
        self.rows.forEach(function (row) {
          var own = row[name];
          if (own.dataset.follows) { own.value = field.value; if (own.value) fieldError(own, ""); }
        });
      });
    });
  }

  FileDetails.prototype.add = function (files) {
    var self = this;
    Array.prototype.forEach.call(files, function (file) { self.rows.push(self.makeRow(file)); });
    this.render();
  };

  FileDetails.prototype.makeRow = function (file) {
    var id = "file-" + nextId++;
    var row = { file: file, id: id, tr: el("tr", { id: id, tabindex: "-1" }) };
    var name = el("td", { "data-label": "File", "class": "file-name" }, file.name);
    row.title = el("input", { type: "text", id: id + "-title", maxlength: "255", value: titleFromName(file.name) });
    row.category = this.copyOf(sharedField(this.form, "category"), id + "-category");
    row.document_date = this.copyOf(sharedField(this.form, "document_date"), id + "-date");
    var remove = el("button", { type: "button", "class": "button small" }, "Remove");
    remove.append(el("span", { "class": "visually-hidden" }, " " + file.name));
    var self = this;
    remove.addEventListener("click", function () { self.remove(row); });
    row.tr.append(
      name,
      this.cell("Title", row.title, "Title for " + file.name),
      this.cell("Category", row.category, "Category for " + file.name),
      this.cell("Clinical date", row.document_date, "Clinical date for " + file.name),
      this.cell("", remove)
    );
    return row;
  };

  /* A row's own copy of a shared field: same options, the shared value, following it until changed. */
  FileDetails.prototype.copyOf = function (shared, id) {
    var field = shared.cloneNode(true);
    field.id = id;
    field.removeAttribute("name");
    field.removeAttribute("aria-describedby");
    field.removeAttribute("aria-invalid");
    field.removeAttribute("required");
    field.value = shared.value;
    field.dataset.follows = "1";
    field.addEventListener("change", function () {
      delete field.dataset.follows;
      if (field.value) fieldError(field, "");
    });
    return field;
  };

  FileDetails.prototype.cell = function (heading, control, label) {
    var td = el("td", heading ? { "data-label": heading } : {});
    if (label) td.append(el("label", { "for": control.id, "class": "visually-hidden" }, label));
    td.append(control);
    return td;
  };

  FileDetails.prototype.remove = function (row) {
    this.rows = this.rows.filter(function (other) { return other !== row; });
    this.render();
    this.input.focus();
  };

  FileDetails.prototype.clear = function () {
    this.rows = [];
    this.render();
  };

  FileDetails.prototype.render = function () {
    if (!this.table) {
      this.table = el("table", { "class": "file-table stack", "data-file-details": "" });
      var caption = el("caption", {}, "Each file's details");
      var head = el("thead");
      var tr = el("tr");
      ["File", "Title", "Category", "Clinical date"].forEach(function (text) { tr.append(el("th", { scope: "col" }, text)); });
      var last = el("th", { scope: "col" });
      last.append(el("span", { "class": "visually-hidden" }, "Remove"));
      tr.append(last);
      head.append(tr);
      this.table.append(caption, head, el("tbody"));
      this.input.closest(".dropzone-field").after(this.table);
    }
    var body = this.table.querySelector("tbody");
    body.textContent = "";
    this.rows.forEach(function (row) { body.append(row.tr); });
    this.table.hidden = !this.rows.length;
    if (this.chosen) {
      this.chosen.textContent = !this.rows.length ? "" : this.rows.length === 1 ? "Chosen: " + this.rows[0].file.name :
        this.rows.length + " files chosen: " + this.rows.map(function (row) { return row.file.name; }).join(", ");
    }
    if (this.rows.length) fieldError(this.input, "");
  };

  /* The GOV.UK pattern: every problem in a summary that links to its field, and beside the field. */
  FileDetails.prototype.check = function () {
    var problems = [];
    var category = sharedField(this.form, "category");
    if (!this.rows.length) {
      if (category) {
        var missing = category.value ? "" : "Choose a category for the files.";
        fieldError(category, missing);
        if (missing) problems.push([category, missing]);
      }
      problems.push([this.input, "Choose at least one file to upload."]);
      fieldError(this.input, "Choose at least one file to upload.");
    } else {
      if (category) fieldError(category, "");
      this.rows.forEach(function (row) {
        var noCategory = row.category.value ? "" : "Choose a category for " + row.file.name + ".";
        fieldError(row.category, noCategory);
        if (noCategory) problems.push([row.category, noCategory]);
        var badDate = row.document_date.validity && row.document_date.validity.badInput ?
          "Enter a real clinical date for " + row.file.name + ", or leave it empty for today." : "";
        fieldError(row.document_date, badDate);
        if (badDate) problems.push([row.document_date, badDate]);
      });
    }
    showSummary(this.form, problems);
    return !problems.length;
  };

  FileDetails.prototype.details = function (row) {
    return { title: row.title.value.trim(), category: row.category.value, document_date: row.document_date.value };
  };

  function wireDropzone(form, input, files) {
    var zone = form.querySelector("[data-dropzone]");
    input.addEventListener("change", function () {
      if (!input.files.length) return;
      files.add(input.files);
      input.value = ""; // the rows hold the files; choosing more adds to them
    });
    if (!zone) return;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragging"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files.length) files.add(event.dataTransfer.files);
    });
  }

  function wireSharedCategory(form) {
    var category = sharedField(form, "category");
    if (category) category.addEventListener("change", function () { if (category.value) fieldError(category, ""); });
  }

  /* --- the patient page's documents list, refreshed in place -------------------------------------- */

  var FIRST_DELAY = 1000;
  var MAX_DELAY = 10000;
  var GIVE_UP_AFTER = 3 * 60 * 1000; // without a change to the list

  function ListRefresher(wrapper, status) {
    this.wrapper = wrapper;
    this.status = status;
    this.etag = wrapper.dataset.etag || "";
    this.timer = null;
    this.busy = false;
    this.delay = FIRST_DELAY;
    this.deadline = 0;
    this.stopped = false;
    var self = this;
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && self.waiting) { self.waiting = false; self.fetch(); }
    });
  }

  ListRefresher.prototype.pending = function () {
    return this.wrapper.querySelectorAll("tr[data-scan-status=pending]").length;
  };

  ListRefresher.prototype.say = function (text) {
    if (this.status && this.status.textContent !== text) this.status.textContent = text;
  };

  /* Look again soon: after an upload, when a scan settles, or on opening a page with scans running. */
  ListRefresher.prototype.kick = function (wait) {
    this.stopped = false;
    this.delay = FIRST_DELAY;
    this.deadline = Date.now() + GIVE_UP_AFTER;
    this.schedule(wait === undefined ? 300 : wait);
  };

  ListRefresher.prototype.schedule = function (wait) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.fetch(); }, wait);
  };

  ListRefresher.prototype.fetch = function () {
    var self = this;
    if (this.busy) { this.schedule(this.delay); return; }
    if (document.hidden) { this.waiting = true; return; }
    this.busy = true;
    var headers = { "Accept": "text/html" };
    if (this.etag) headers["If-None-Match"] = this.etag; // unchanged: 304, nothing to redraw
    window.fetch(this.wrapper.dataset.listUrl, { credentials: "same-origin", cache: "no-store", headers: headers }).then(function (response) {
      // A redirect is the sign-in page (the session ended); anything else but 200 or 304 is a refusal.
      if (response.redirected || (response.status !== 200 && response.status !== 304)) throw new Error("refused");
      if (response.status === 304) return null;
      self.etag = response.headers.get("ETag") || "";
      return response.text();
    }).then(function (html) {
      self.busy = false;
      if (html !== null) self.replace(html);
      self.next(html !== null);
    }).catch(function () {
      self.busy = false;
      self.stopped = true;
      self.say("The list could not be brought up to date. Reload the page to see the latest documents.");
    });
  };

  ListRefresher.prototype.replace = function (html) {
    var active = document.activeElement;
    var href = active && this.wrapper.contains(active) ? active.getAttribute("href") : null;
    this.wrapper.innerHTML = html;
    if (href !== null) {
      var same = Array.prototype.find.call(this.wrapper.querySelectorAll("a[href]"), function (link) {
        return link.getAttribute("href") === href;
      });
      if (same) same.focus();
    }
    this.deadline = Date.now() + GIVE_UP_AFTER;
  };

  ListRefresher.prototype.next = function (changed) {
    var pending = this.pending();
    if (!pending) {
      clearTimeout(this.timer);
      if (changed) this.say("The documents list has been updated.");
      return;
    }
    var waiting = pending === 1 ? "1 document is" : pending + " documents are";
    if (Date.now() > this.deadline) {
      this.stopped = true;
      this.say(waiting + " still being checked for viruses. Reload the page later to see the result.");
      return;
    }
    this.say("The documents list has been updated; " + waiting + " being checked for viruses, and the list will update again by itself.");
    this.delay = Math.min(this.delay * 1.5, MAX_DELAY);
    this.schedule(this.delay);
  };

  /* --- patient page: several files, one request each ---------------------------------------------- */

  function pollStatus(form, row, documentId, delay, refresher) {
    var url = form.dataset.statusUrl.replace(PLACEHOLDER_ID, documentId);
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
        if (refresher) refresher.kick();
        done(form);
      } else {
        setTimeout(function () { pollStatus(form, row, documentId, Math.min(delay * 1.5, 5000), refresher); }, delay);
      }
    };
    xhr.onerror = function () { setTimeout(function () { pollStatus(form, row, documentId, 5000, refresher); }, 5000); };
    xhr.send();
  }

  function setState(row, state, label) {
    var badge = row.querySelector(".upload-state");
    badge.className = "badge upload-state badge-" + state;
    badge.textContent = label;
    row.dataset.state = state;
  }

  /* Once every file of the latest upload has an answer, the refused ones are summarised at the top. */
  function done(form) {
    var rows = Array.prototype.filter.call(form.querySelectorAll("[data-upload-list] li"), function (row) {
      return row.dataset.batch === form.dataset.batch;
    });
    var answered = rows.every(function (row) { return row.dataset.state !== "uploading"; });
    if (!answered || form.dataset.summarised === form.dataset.batch) return;
    form.dataset.summarised = form.dataset.batch;
    var refused = rows.filter(function (row) { return row.dataset.state === "refused"; });
    if (refused.length) {
      showSummary(form, refused.map(function (row) {
        return [row, row.querySelector(".upload-name").textContent + ": " + row.querySelector(".upload-error").textContent];
      }));
    }
  }

  function uploadOne(form, file, details, list, refresher) {
    var row = el("li", { "class": "upload-row", id: "upload-" + nextId++, tabindex: "-1" });
    row.dataset.state = "uploading";
    row.dataset.batch = form.dataset.batch;
    var name = el("span", { "class": "upload-name" }, file.name);
    var bar = el("progress", { max: "100", value: "0", "aria-label": "Uploading " + file.name });
    var state = el("span", { "class": "badge upload-state" }, "Uploading");
    var message = el("p", { "class": "upload-error" });
    message.hidden = true;
    row.append(name, bar, state, message);
    list.append(row);

    var data = new FormData();
    data.append("file", file, file.name);
    data.append("patient_id", form.dataset.patientId);
    if (details.title) data.append("title", details.title);
    data.append("category", details.category);
    if (details.document_date) data.append("document_date", details.document_date);
    var encounter = sharedField(form, "encounter_id");
    if (encounter && encounter.value) data.append("encounter_id", encounter.value);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.apiUrl);
    xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable) bar.value = Math.round((event.loaded / event.total) * 100);
    };
    function refuse(label) {
      setState(row, "refused", label);
      message.textContent = refusalMessage(xhr);
      message.hidden = false;
      done(form);
    }
    xhr.onload = function () {
      if (xhr.status !== 201) return refuse("Refused");
      bar.value = 100;
      var body = JSON.parse(xhr.responseText);
      setState(row, body.scan_status, body.scan_status === "pending" ? "Waiting for virus scan" : body.scan_status);
      if (refresher) refresher.kick();
      if (SETTLED[body.scan_status]) done(form); else pollStatus(form, row, body.id, 700, refresher);
    };
    xhr.onerror = function () { refuse("Failed"); };
    xhr.send(data);
  }

  function wireUploadForm(form) {
    var input = form.querySelector("input[type=file]");
    input.multiple = true;
    form.querySelector(".dropzone-title").textContent = "Choose files";
    var files = new FileDetails(form, input);
    wireDropzone(form, input, files);
    wireSharedCategory(form);
    var wrapper = document.querySelector("[data-documents-list]");
    var refresher = wrapper ? new ListRefresher(wrapper, document.querySelector("[data-list-status]")) : null;
    if (refresher && refresher.pending()) {
      refresher.say("Some documents are still being checked for viruses; this list will update by itself.");
      refresher.kick(FIRST_DELAY);
    }
    form.dataset.batch = "0";
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!files.check()) return;
      form.dataset.batch = String(Number(form.dataset.batch) + 1);
      var list = form.querySelector("[data-upload-list]");
      files.rows.forEach(function (row) { uploadOne(form, row.file, files.details(row), list, refresher); });
      files.clear();
    });
  }

  /* --- bulk: one all-or-nothing request ------------------------------------------------------------ */

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
      var details = el("td", { "data-label": "Details" });
      if (file.document) {
        details.append(el("a", { href: form.dataset.detailUrl.replace(PLACEHOLDER_ID, file.document.id) }, file.document.title));
      } else {
        details.append(document.createTextNode((file.message || "") + " "), el("code", {}, file.error_code || ""));
      }
      var outcome = el("td", { "data-label": "Outcome" });
      outcome.append(outcomeBadge(file.outcome));
      tr.append(el("td", { "data-label": "File" }, file.filename), outcome, details);
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

  /* A refused batch keeps its rows: each refused file says why in its row, so it can be removed or
     changed and the batch sent again. */
  function markRefusedRows(form, files, sent, body) {
    var problems = [];
    (body.files || []).forEach(function (outcome, index) {
      var row = sent[index];
      if (!row || outcome.outcome !== "refused") return;
      var message = row.file.name + ": " + outcome.message;
      var error = el("p", { "class": "field-error", id: row.id + "-error" }, outcome.message);
      row.tr.querySelector(".file-name").append(error);
      row.tr.classList.add("refused");
      problems.push([row.tr, message]);
    });
    if (!problems.length && body.detail && body.detail.message && body.total === undefined) {
      problems.push([files.input, body.detail.message]);
    }
    showSummary(form, problems);
  }

  function wireBulkForm(form) {
    var input = form.querySelector("input[type=file]");
    var progress = form.querySelector("[data-bulk-progress]");
    var files = new FileDetails(form, input);
    wireDropzone(form, input, files);
    wireSharedCategory(form);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      files.rows.forEach(function (row) {
        var old = row.tr.querySelector(".file-name .field-error");
        if (old) old.remove();
        row.tr.classList.remove("refused");
      });
      if (!files.check()) return;
      var sent = files.rows.slice();
      var data = new FormData();
      data.append("patient_id", form.dataset.patientId);
      ["category", "document_date", "encounter_id"].forEach(function (name) {
        var field = sharedField(form, name);
        if (field && field.value) data.append(name, field.value);
      });
      sent.forEach(function (row) {
        var details = files.details(row);
        data.append("files", row.file, row.file.name);
        data.append("titles", details.title);
        data.append("categories", details.category);
        data.append("document_dates", details.document_date);
      });
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
        if (xhr.status === 201) { files.clear(); showSummary(form, []); } else markRefusedRows(form, files, sent, body);
      };
      xhr.onerror = function () {
        var body = { detail: { message: refusalMessage(xhr) } };
        showBulkResults(form, body);
        markRefusedRows(form, files, sent, body);
      };
      xhr.send(data);
    });
  }

  document.documentElement.classList.add("js");
  document.querySelectorAll("[data-upload-form]").forEach(wireUploadForm);
  document.querySelectorAll("[data-bulk-form]").forEach(wireBulkForm);
})();
