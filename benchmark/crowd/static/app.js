// Rater page: asks the server for the next pair, plays both clips in a loop, sends the answer.
// The answer buttons unlock only after both clips have played through once; a click or a key
// press submits exactly once. A pair whose video fails to load can be skipped (and is reported).
(function () {
  "use strict";
  const body = document.body;
  const token = body.dataset.token;
  const answers = JSON.parse(body.dataset.answers);
  const allowed = new Set(answers.map(function (a) { return a.key; }));
  const left = document.getElementById("left");
  const right = document.getElementById("right");
  const videos = [left, right];
  const pair = document.getElementById("pair");
  const buttons = document.getElementById("buttons");
  const help = document.getElementById("help");
  const status = document.getElementById("status");
  const problem = document.getElementById("problem");
  const progress = document.getElementById("progress");
  const bar = document.getElementById("progress-bar");
  let trial = null;
  let loaded = 0;
  let loops = { left: 0, right: 0 };
  let shownAt = 0;
  let busy = true;
  let failed = false;

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

  function onLoaded() {
    loaded += 1;
    if (loaded === 2) { shownAt = performance.now(); }
  }
  // Each clip loops by itself (no `loop` attribute, so "ended" marks every full play).
  function onEnded(e) {
    const v = e.target;
    loops[v.id] += 1;
    v.currentTime = 0;
    v.play().catch(function () {});
    if (trial !== null && !failed && busy && loops.left >= 1 && loops.right >= 1) { setBusy(false); }
  }
  function onError() {
    if (trial === null || failed) { return; }
    failed = true;
    setBusy(true);
    status.textContent = "A video did not load. Reload the page, or skip this pair.";
    problem.hidden = false;
    body.dataset.state = "error";
  }
  videos.forEach(function (v) {
    v.addEventListener("loadeddata", onLoaded);
    v.addEventListener("ended", onEnded);
    v.addEventListener("error", onError);
  });

  function finish(closed) {
    trial = null;
    videos.forEach(function (v) { v.pause(); v.removeAttribute("src"); v.load(); });
    pair.hidden = true;
    buttons.hidden = true;
    help.hidden = true;
    problem.hidden = true;
    document.getElementById(closed ? "closed" : "done").hidden = false;
    body.dataset.state = closed ? "closed" : "done";
  }

  async function next() {
    setBusy(true);
    problem.hidden = true;
    failed = false;
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
    if (data.done) { finish(Boolean(data.closed)); return; }
    trial = data.trial;
    loaded = 0;
    loops = { left: 0, right: 0 };
    left.src = data.left;
    right.src = data.right;
    videos.forEach(function (v) { v.play().catch(function () {}); });
  }

  async function post(verb, payload) {
    setBusy(true);
    let r;
    try {
      r = await fetch("/api/" + token + "/" + verb, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
      });
    } catch (e) {
      status.textContent = "Not saved (no connection); please try again.";
      setBusy(failed);
      return;
    }
    const data = await r.json();
    if (r.status === 410) { finish(true); return; }
    if (r.ok || r.status === 409) {
      status.textContent = r.ok ? "" : data.error;
      next();
    } else {
      status.textContent = data.error || "error";
      setBusy(failed);
    }
  }

  function submit(answer) {
    if (busy || trial === null || !allowed.has(answer)) { return; }
    post("answer", { trial: trial, answer: answer, client_ms: Math.round(performance.now() - shownAt) });
  }

  document.getElementById("skip").addEventListener("click", function () {
    if (trial === null || !failed) { return; }
    post("skip", { trial: trial, reason: "video-error" });
  });

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
