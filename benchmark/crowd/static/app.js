// Rater page: asks the server for the next pair, plays both clips in a loop, sends the answer.
// Answers are accepted once both clips are ready; a click or a key press submits exactly once.
(function () {
  "use strict";
  const body = document.body;
  const token = body.dataset.token;
  const answers = JSON.parse(body.dataset.answers);
  const allowed = new Set(answers.map(function (a) { return a.key; }));
  const left = document.getElementById("left");
  const right = document.getElementById("right");
  const buttons = document.getElementById("buttons");
  const status = document.getElementById("status");
  const progress = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  let trial = null;
  let ready = 0;
  let shownAt = 0;
  let busy = true;

  answers.forEach(function (a) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.answer = a.key;
    b.textContent = a.label;
    b.disabled = true;
    b.addEventListener("click", function () { submit(a.key); });
    buttons.appendChild(b);
  });
  if (!allowed.has("same")) { document.getElementById("help-same").hidden = true; }

  function setBusy(value) {
    busy = value;
    buttons.querySelectorAll("button").forEach(function (b) { b.disabled = value; });
    body.dataset.state = value ? "waiting" : "ready";
  }

  function showProgress(done, total) {
    progress.textContent = done + " / " + total;
    bar.max = Math.max(total, 1);
    bar.value = done;
  }

  function onReady() {
    ready += 1;
    if (ready === 2) {
      shownAt = performance.now();
      setBusy(false);
    }
  }
  left.addEventListener("loadeddata", onReady);
  right.addEventListener("loadeddata", onReady);
  function onError() { status.textContent = "A video failed to load; please reload the page."; }
  left.addEventListener("error", onError);
  right.addEventListener("error", onError);

  async function next() {
    setBusy(true);
    let r;
    try {
      r = await fetch("/api/" + token + "/next", { cache: "no-store" });
    } catch (e) {
      status.textContent = "Cannot reach the server; retrying…";
      setTimeout(next, 2000);
      return;
    }
    const data = await r.json();
    if (!r.ok) { status.textContent = data.error || "error"; return; }
    showProgress(data.answered, data.total);
    if (data.done) {
      trial = null;
      document.getElementById("pair").hidden = true;
      buttons.hidden = true;
      document.getElementById("done").hidden = false;
      body.dataset.state = "done";
      return;
    }
    trial = data.trial;
    ready = 0;
    left.src = data.left;
    right.src = data.right;
    left.play().catch(function () {});
    right.play().catch(function () {});
  }

  async function submit(answer) {
    if (busy || trial === null || !allowed.has(answer)) { return; }
    setBusy(true);
    const payload = { trial: trial, answer: answer, client_ms: Math.round(performance.now() - shownAt) };
    let r;
    try {
      r = await fetch("/api/" + token + "/answer", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
      });
    } catch (e) {
      status.textContent = "Not saved (no connection); please answer again.";
      setBusy(false);
      return;
    }
    const data = await r.json();
    if (r.ok || r.status === 409) {
      status.textContent = r.ok ? "" : data.error;
      next();
    } else {
      status.textContent = data.error || "error";
      setBusy(false);
    }
  }

  document.addEventListener("keydown", function (e) {
    if (e.repeat) { return; }
    const k = e.key;
    let answer = null;
    if (k === "ArrowLeft" || k === "f" || k === "F" || k === "1") { answer = "left"; }
    else if (k === "ArrowRight" || k === "j" || k === "J" || k === "2") { answer = "right"; }
    else if (k === "ArrowDown" || k === " " || k === "3") { answer = "same"; }
    if (answer !== null && allowed.has(answer)) { e.preventDefault(); submit(answer); }
  });

  next();
})();
