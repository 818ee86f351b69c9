// The upload page with a progress bar: files (from the inputs or dropped, folders walked) are sent in
// batches with XMLHttpRequest, whose upload progress events drive the bar; the server answers each
// batch with JSON naming the prearchive sessions it filled. Without JavaScript the form posts as is.
// A drop gives DataTransfer items: a dropped folder is walked through its FileSystemEntry
// (webkitGetAsEntry); an item without an entry (some browsers and apps) is taken as a plain file.
(function () {
  "use strict";
  var MAX_FILES = 50;                // Django refuses more than 100 files in one request
  var UNFINISHED = "The files before it were kept in the prearchive as an unfinished upload: upload again to" +
    " complete it, or build or delete the session there.";
  var MAX_BYTES = 256 * 1024 * 1024; // several requests keep a failed batch cheap to retry
  var SKIPPED_SHOWN = 20;

  var form, dropped = [], results, statusLine, bar, box;

  function walk(entry, out) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) { out.push(file); resolve(); }, function () { resolve(); });
      } else if (entry.isDirectory) {
        var reader = entry.createReader(), pending = [];
        (function more() {
          reader.readEntries(function (entries) {
            if (!entries.length) { Promise.all(pending).then(resolve); return; }
            entries.forEach(function (e) { pending.push(walk(e, out)); });
            more();
          }, function () { Promise.all(pending).then(resolve); });
        })();
      } else { resolve(); }
    });
  }

  function chosenFiles() {
    var files = dropped.slice();
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files, function (f) { files.push(f); });
    });
    return files;
  }

  function showChosen() {
    var files = chosenFiles(), size = files.reduce(function (n, f) { return n + f.size; }, 0);
    document.getElementById("chosen").textContent = files.length
      ? files.length + " file(s), " + (size / 1048576).toFixed(1) + " MB chosen" : "";
    document.getElementById("clear-chosen").hidden = !files.length;
  }

  function clearChosen() {
    dropped = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) { input.value = ""; });
    showChosen();
  }

  // Read a drop synchronously (the browser empties the DataTransfer once the handler returns), then
  // walk the folders; the upload button waits until every file is known.
  function takeDrop(dataTransfer) {
    var items = dataTransfer.items, walks = [], button = document.getElementById("upload-button");
    if (items && items.length) {
      Array.prototype.forEach.call(items, function (item) {
        if (item.kind !== "file") return;
        var entry = item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
        if (entry) { walks.push(walk(entry, dropped)); return; }
        var file = item.getAsFile();
        if (file) dropped.push(file);
      });
    } else {
      Array.prototype.forEach.call(dataTransfer.files || [], function (f) { dropped.push(f); });
    }
    button.disabled = true;
    document.getElementById("chosen").textContent = "Reading the dropped files…";
    return Promise.all(walks).then(function () {
      button.disabled = false;
      showChosen();
      form.dispatchEvent(new CustomEvent("xnatlite:dropped", { detail: dropped.length }));
    });
  }

  function batches(files) {
    var out = [], current = [], bytes = 0;
    files.forEach(function (file) {
      if (current.length && (current.length >= MAX_FILES || bytes + file.size > MAX_BYTES)) {
        out.push(current); current = []; bytes = 0;
      }
      current.push(file); bytes += file.size;
    });
    if (current.length) out.push(current);
    return out;
  }

  function newUploadId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function send(batch, last, earlier, uploadId, onProgress) {
    return new Promise(function (resolve) {
      var data = new FormData();
      ["csrfmiddlewaretoken", "project", "subject", "session"].forEach(function (name) {
        data.append(name, form.elements[name].value);
      });
      // Every batch names the upload: its sessions are not built until the last batch commits every
      // session the upload filled (built and READY at once), so a cut-off upload never looks whole.
      data.append("upload", uploadId);
      data.append("commit", last ? "1" : "0");
      if (last) earlier.forEach(function (s) { data.append("also", s.id); });
      batch.forEach(function (file) { data.append("files", file, file.name); });
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(e.loaded, e.total); };
      xhr.onload = function () {
        var body;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = { error: "The server answered " + xhr.status, sessions: [], files: 0, skipped: [] }; }
        resolve(body);
      };
      xhr.onerror = function () { resolve({ error: "The connection failed", sessions: [], files: 0, skipped: [] }); };
      xhr.send(data);
    });
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function render(summary) {
    results.innerHTML = "";
    if (summary.error) {
      var err = document.createElement("p");
      err.className = "danger-box";
      err.textContent = summary.error + (summary.files ? " " + UNFINISHED : "");
      results.appendChild(err);
    }
    if (summary.files || !summary.error) {
      var ok = document.createElement("p");
      ok.className = "ok-box";
      ok.textContent = summary.files + " file(s) received into " + summary.sessions.length + " prearchive session(s)." +
        (summary.skipped.length ? " " + summary.skipped.length + " file(s) skipped (not DICOM): " +
          summary.skipped.slice(0, SKIPPED_SHOWN).join(", ") + (summary.skipped.length > SKIPPED_SHOWN ? ", …" : "") : "");
      results.appendChild(ok);
    }
    if (!summary.sessions.length) return;
    var table = document.createElement("table");
    table.className = "listing";
    table.innerHTML = "<thead><tr><th scope='col'>Project</th><th scope='col'>Subject</th><th scope='col'>Session</th><th scope='col'>Status</th><th scope='col' class='num'>Files</th></tr></thead>";
    var body = document.createElement("tbody");
    summary.sessions.forEach(function (s) {
      var row = document.createElement("tr");
      cell(row, s.project); cell(row, s.subject);
      var link = document.createElement("a");
      link.href = s.url; link.textContent = s.label;
      cell(row, "").appendChild(link);
      var badge = document.createElement("span");
      badge.className = "status " + s.status; badge.textContent = s.status;
      cell(row, "").appendChild(badge);
      cell(row, String(s.files), "num");
      body.appendChild(row);
    });
    table.appendChild(body);
    results.appendChild(table);
  }

  function upload(event) {
    var files = chosenFiles();
    if (!files.length) return; // let the server say what is missing
    event.preventDefault();
    var total = files.reduce(function (n, f) { return n + f.size; }, 0) || 1, done = 0;
    var summary = { sessions: [], files: 0, skipped: [], error: "" }, seen = {};
    var button = document.getElementById("upload-button");
    button.disabled = true; box.hidden = false; bar.value = 0; results.innerHTML = "";
    var queue = batches(files), index = 0, uploadId = newUploadId(), unreadable = "";
    (function next() {
      if (index >= queue.length || summary.error) {
        bar.value = 100;
        // Nothing in any batch was DICOM (junk, an empty zip): the upload failed, whatever each batch said.
        if (!summary.files && !summary.error) {
          summary.error = summary.skipped.length ? "No file could be read as DICOM: " +
            summary.skipped.slice(0, SKIPPED_SHOWN).join(", ") : unreadable || "No DICOM file was chosen.";
        }
        statusLine.textContent = !summary.error ? "Done." : summary.files ? "Stopped." : "Failed.";
        statusLine.className = summary.error ? "failed" : "";
        button.disabled = false;
        if (!summary.error) clearChosen();
        render(summary);
        return;
      }
      var batch = queue[index++], batchBytes = batch.reduce(function (n, f) { return n + f.size; }, 0);
      send(batch, index === queue.length, summary.sessions, uploadId, function (loaded, all) {
        var sent = done + batchBytes * (loaded / all);
        bar.value = Math.min(99, Math.floor(100 * sent / total));
        form.dispatchEvent(new CustomEvent("xnatlite:upload-progress", { detail: bar.value }));
        statusLine.textContent = loaded >= all ? "Processing on the server…"
          : "Uploading " + (sent / 1048576).toFixed(1) + " of " + (total / 1048576).toFixed(1) + " MB (" + bar.value + " %)";
      }).then(function (answer) {
        done += batchBytes;
        summary.files += answer.files || 0;
        summary.skipped = summary.skipped.concat(answer.skipped || []);
        (answer.sessions || []).forEach(function (s) {
          if (!seen[s.url]) { seen[s.url] = s; summary.sessions.push(s); } else { seen[s.url].status = s.status; seen[s.url].files = s.files; }
        });
        // A batch with nothing readable is not the end of a folder's upload: later batches may hold DICOM.
        if (answer.unreadable) unreadable = answer.error;
        else if (answer.error) summary.error = answer.error;
        next();
      });
    })();
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("upload-form");
    if (!form) return;
    results = document.getElementById("upload-results");
    statusLine = document.getElementById("upload-status");
    bar = document.getElementById("upload-progress");
    box = document.getElementById("progress-box");
    var zone = document.getElementById("dropzone");
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      takeDrop(e.dataTransfer);
    });
    document.getElementById("clear-chosen").addEventListener("click", clearChosen);
    form.querySelectorAll("input[type=file]").forEach(function (input) { input.addEventListener("change", showChosen); });
    form.addEventListener("submit", upload);
    // "How to send data" names the chosen project in its routing rule and upload tool command.
    var project = form.elements.project;
    function nameProject() {
      document.querySelectorAll("#how-to-send .project-id").forEach(function (el) { el.textContent = project.value || "PROJECT"; });
    }
    project.addEventListener("change", nameProject);
    nameProject();
  });
})();
