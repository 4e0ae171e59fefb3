/* Letters: autosave a draft through the API a few seconds after typing stops.
   Without JavaScript the form's Save buttons do the same job. */
(function () {
  "use strict";
  var form = document.getElementById("letter-form");
  if (!form || !window.fetch) { return; }
  var status = document.getElementById("autosave-status");
  var FIELDS = ["recipient_name", "recipient_role", "recipient_address", "subject", "clinical_date", "encounter_id", "body"];
  var DELAY_MS = 2500;
  var timer = null;
  var saving = false;
  var dirty = false;

  function csrfToken() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function say(text) { if (status) { status.textContent = text; } }

  function hhmm(date) {
    return String(date.getHours()).padStart(2, "0") + ":" + String(date.getMinutes()).padStart(2, "0");
  }

  function payload() {
    var data = {};
    FIELDS.forEach(function (name) {
      var field = form.elements[name];
      if (!field) { return; }
      if (name === "clinical_date" && !field.value) { return; }
      data[name] = field.value;
    });
    return data;
  }

  function becameDraft(letterId) {
    // The first autosave of a new letter created it: from now on, update that draft.
    form.dataset.updateUrl = "/api/letters/" + letterId + "/";
    var editUrl = form.dataset.editUrl.replace("__id__", letterId);
    form.setAttribute("action", editUrl);
    if (window.history && window.history.replaceState) { window.history.replaceState(null, "", editUrl); }
  }

  function save() {
    timer = null;
    if (saving) { dirty = true; return; }
    saving = true;
    dirty = false;
    var updateUrl = form.dataset.updateUrl;
    say("Saving…");
    fetch(updateUrl || form.dataset.createUrl, {
      method: updateUrl ? "PATCH" : "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(payload())
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var detail = body && body.detail;
          var message = detail && detail.message ? detail.message : "the server answered " + response.status;
          say("Not saved: " + message + " Use the Save draft button.");
          return;
        }
        if (!updateUrl && body.id) { becameDraft(body.id); }
        say("Saved at " + hhmm(new Date()) + ".");
      });
    }).catch(function () {
      say("Not saved: Quill could not be reached. Your text is still here; try Save draft.");
    }).then(function () {
      saving = false;
      if (dirty) { schedule(); }
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(save, DELAY_MS);
    say("Unsaved changes…");
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  form.addEventListener("submit", function () {
    if (timer) { clearTimeout(timer); timer = null; }
  });
})();
