// The listening kit's page: a MOS test, then a preference test, one rater at a time.
//
// Inlined into index.html by listening_test.py, beside the kit's data (the JSON in
// #kit-data). Everything runs from the file system: no server, no network, no library.
// What a test driver may rely on: the element ids of page.html, body[data-phase],
// #mos-screen[data-stimulus][data-position], #pref-screen[data-utt][data-position],
// [data-score] / [data-choice] / [data-label] on the controls, and window.listeningKit.
"use strict";
(function () {
  const KIT = JSON.parse(document.getElementById("kit-data").textContent);
  const RESULTS_FORMAT = "sniper-listening-results";
  const RESULTS_VERSION = 1;
  // the orders are a function of this name's algorithm: recorded so a result says how
  const PRNG = "fnv1a32(test_id + '\\n' + rater) -> xorshift32 -> Fisher-Yates";
  const ACR = {1: "Bad", 2: "Poor", 3: "Fair", 4: "Good", 5: "Excellent"};
  const LABELS = ["A", "B", "C"].slice(0, KIT.preference.systems.length);
  const STORE = "sniper-listening/" + KIT.test_id + "/";
  const stimulusById = {};
  KIT.mos.forEach((s) => { stimulusById[s.id] = s; });
  const trialByUtt = {};
  KIT.preference.trials.forEach((t) => { trialByUtt[t.utt] = t; });

  const $ = (id) => document.getElementById(id);
  const player = $("player");
  const now = () => new Date().toISOString();

  let state = null;        // the rater's answers and orders: what localStorage keeps
  let heard = new Set();   // what was played to its end during this visit
  let playing = null;      // the key of what the player plays now

  // ---- seeded order: the same (test, rater) gives the same order in every browser ----

  function hash32(text) {
    // FNV-1a over the UTF-8 bytes: a well-spread 32-bit seed from any string
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(text)) {
      h = Math.imul(h ^ byte, 0x01000193) >>> 0;
    }
    return h >>> 0;
  }

  function xorshift32(seed) {
    let s = seed >>> 0 || 0x6d2b79f5;  // xorshift never leaves 0
    return function () {
      s = (s ^ (s << 13)) >>> 0;
      s = (s ^ (s >>> 17)) >>> 0;
      s = (s ^ (s << 5)) >>> 0;
      return s / 4294967296;
    };
  }

  function shuffled(items, random) {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  function plan(rater) {
    const seed = hash32(KIT.test_id + "\n" + rater);
    const random = xorshift32(seed);
    const mosOrder = shuffled(KIT.mos.map((s) => s.id), random);
    const preferenceOrder = shuffled(KIT.preference.trials.map((t) => t.utt), random)
      .map((utt) => {
        const labels = {};
        shuffled(KIT.preference.systems, random).forEach((system, k) => {
          labels[LABELS[k]] = system;
        });
        return {utt: utt, labels: labels};
      });
    return {seed: seed, mos_order: mosOrder, preference_order: preferenceOrder};
  }

  // ---- storage: every answer is written before the page shows it ----

  function storeKey(rater) { return STORE + "rater/" + rater; }

  function save() {
    state.updated_at = now();
    try {
      localStorage.setItem(storeKey(state.rater), JSON.stringify(state));
      $("storage-warning").hidden = true;
    } catch (e) {
      $("storage-warning").hidden = false;
    }
  }

  function load(rater) {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(storeKey(rater)) || "null");
    } catch (e) {
      console.warn("saved answers of " + rater + " unreadable: starting again", e);
      return null;
    }
    // answers saved by another kit under the same id would point at other stimuli
    const fits = saved && saved.test_id === KIT.test_id && saved.rater === rater &&
      Array.isArray(saved.mos_order) && saved.mos_order.length === KIT.mos.length &&
      saved.mos_order.every((id) => id in stimulusById) &&
      Array.isArray(saved.preference_order) &&
      saved.preference_order.length === KIT.preference.trials.length &&
      saved.preference_order.every((t) => t.utt in trialByUtt);
    if (saved && !fits) console.warn("saved answers of " + rater + " do not fit this kit");
    return fits ? saved : null;
  }

  function rememberRater(rater) {
    try { localStorage.setItem(STORE + "last-rater", rater); } catch (e) { /* shown by save */ }
  }

  // ---- audio: a stimulus counts as heard only once its "ended" event fired ----

  function playKey(key, file) {
    player.pause();
    playing = key;
    player.src = file;
    const started = player.play();
    if (started) {
      started.catch((err) => {
        // an AbortError of a sample replaced by another one is no failure
        if (playing === key) audioFailed(file, err);
      });
    }
    render();
  }

  function audioFailed(file, err) {
    playing = null;
    $("audio-error").textContent = "The sample " + file + " could not be played (" +
      (err && err.message ? err.message : "unknown error") +
      "). Tell the person who sent you this test.";
    $("audio-error").hidden = false;
    render();
  }

  player.addEventListener("ended", () => {
    if (playing === null) return;
    heard.add(playing);
    playing = null;
    render();
  });
  player.addEventListener("error", () => {
    if (playing !== null) audioFailed(player.getAttribute("src"), player.error);
  });

  function stopAudio() {
    playing = null;
    player.pause();
  }

  // ---- the trials ----

  function mosKey(id) { return "mos/" + id; }
  function prefKey(utt, label) { return "pref/" + utt + "/" + label; }

  function currentStimulus() { return state.mos_order[state.index]; }
  function currentTrial() { return state.preference_order[state.index]; }

  function mosReady(id) { return Boolean(state.mos[id]) || heard.has(mosKey(id)); }
  function prefHeard(trial, label) {
    return Boolean(state.preference[trial.utt]) || heard.has(prefKey(trial.utt, label));
  }
  function prefReady(trial) { return LABELS.every((label) => prefHeard(trial, label)); }

  function complete() {
    return state.mos_order.every((id) => state.mos[id]) &&
      state.preference_order.every((t) => state.preference[t.utt]);
  }

  function answer(previous, fields) {
    const t = now();
    return Object.assign({}, fields, {
      first_rated_at: previous ? previous.first_rated_at : t,
      rated_at: t,
      changes: previous ? previous.changes + 1 : 0,
    });
  }

  function go(phase, index) {
    stopAudio();
    state.phase = phase;
    state.index = index;
    save();
    render();
    window.scrollTo(0, 0);
  }

  function rateMos(score) {
    const id = currentStimulus();
    if (!mosReady(id)) return;  // disabled anyway: a guard against a stale click
    state.mos[id] = answer(state.mos[id], {score: score});
    save();
    render();
  }

  function choosePreference(choice) {
    const trial = currentTrial();
    if (!prefReady(trial)) return;
    state.preference[trial.utt] = answer(state.preference[trial.utt], {choice: choice});
    save();
    render();
  }

  // ---- drawing the current screen from the state ----

  function render() {
    const phase = state ? state.phase : "start";
    document.body.dataset.phase = phase;
    $("start-screen").hidden = phase !== "start";
    $("mos-screen").hidden = phase !== "mos";
    $("pref-screen").hidden = phase !== "pref";
    $("done-screen").hidden = phase !== "done";
    if (!state) {
      $("progress").textContent = "";
      $("rater-shown").textContent = "";
      $("go-finish").hidden = true;
      return;
    }
    $("rater-shown").textContent = "Rater: " + state.rater;
    $("go-finish").hidden = phase === "done" || !complete();
    if (phase === "mos") renderMos();
    else if (phase === "pref") renderPref();
    else renderDone();
  }

  function renderMos() {
    const id = currentStimulus();
    const stim = stimulusById[id];
    const given = state.mos[id];
    const ready = mosReady(id);
    const isPlaying = playing === mosKey(id);
    $("progress").textContent = "Part 1: sample " + (state.index + 1) + " of " +
      state.mos_order.length;
    const screen = $("mos-screen");
    screen.dataset.stimulus = id;
    screen.dataset.position = String(state.index);
    $("mos-text").textContent = KIT.texts[stim.utt];
    const play = $("mos-play");
    play.disabled = isPlaying;
    play.textContent = isPlaying ? "Playing\u2026" : ready ? "\u25B6 Play again" : "\u25B6 Play";
    play.classList.toggle("playing", isPlaying);
    play.classList.toggle("heard", ready);
    $("mos-status").textContent = isPlaying ? "Listen to the end\u2026"
      : !ready ? "Play the sample to its end, then rate it."
        : given ? "Rated " + given.score + " (" + ACR[given.score] + ")." : "Now rate it.";
    document.querySelectorAll("#mos-scale [data-score]").forEach((button) => {
      button.disabled = !ready;
      button.setAttribute("aria-pressed", String(Boolean(given) &&
        given.score === Number(button.dataset.score)));
    });
    $("mos-prev").disabled = state.index === 0;
    $("mos-next").disabled = !given;
    $("mos-next").textContent = state.index + 1 === state.mos_order.length
      ? "Part 2 \u2192" : "Next \u2192";
  }

  function renderPref() {
    const trial = currentTrial();
    const given = state.preference[trial.utt];
    const ready = prefReady(trial);
    $("progress").textContent = "Part 2: sentence " + (state.index + 1) + " of " +
      state.preference_order.length;
    const screen = $("pref-screen");
    screen.dataset.utt = trial.utt;
    screen.dataset.position = String(state.index);
    $("pref-text").textContent = KIT.texts[trial.utt];
    LABELS.forEach((label) => {
      const key = prefKey(trial.utt, label);
      const isPlaying = playing === key;
      const done = prefHeard(trial, label);
      const play = $("pref-play-" + label);
      play.disabled = isPlaying;
      play.textContent = isPlaying ? "Playing\u2026" : "\u25B6 Play " + label;
      play.classList.toggle("playing", isPlaying);
      play.classList.toggle("heard", done);
      $("pref-status-" + label).textContent = isPlaying ? "listen to the end\u2026"
        : done ? "\u2713 heard" : "not played yet";
    });
    $("pref-hint").textContent = !ready ? "Play every version to its end, then choose."
      : !given ? "Which version do you prefer?"
        : given.choice === "none" ? "You chose: no preference." : "You chose " + given.choice + ".";
    document.querySelectorAll("#pref-choices [data-choice]").forEach((button) => {
      button.disabled = !ready;
      button.setAttribute("aria-pressed",
        String(Boolean(given) && given.choice === button.dataset.choice));
    });
    $("pref-prev").disabled = false;  // from the first comparison back to the last rating
    $("pref-next").disabled = !given;
    $("pref-next").textContent = state.index + 1 === state.preference_order.length
      ? "Finish \u2192" : "Next \u2192";
  }

  function renderDone() {
    $("progress").textContent = "Done";
    $("download-name").textContent = resultsName();
    $("download").disabled = !complete();
    $("download-done").hidden = !state.downloaded_at;
  }

  function buildPreferenceControls() {
    const stimuli = $("pref-stimuli");
    const choices = $("pref-choices");
    LABELS.forEach((label) => {
      const box = document.createElement("div");
      box.className = "stimulus";
      box.dataset.label = label;
      const name = document.createElement("span");
      name.className = "label";
      name.textContent = label;
      const play = document.createElement("button");
      play.type = "button";
      play.className = "play";
      play.id = "pref-play-" + label;
      play.dataset.label = label;
      play.addEventListener("click", () => {
        const trial = currentTrial();
        playKey(prefKey(trial.utt, label), trialByUtt[trial.utt].files[trial.labels[label]]);
      });
      const status = document.createElement("span");
      status.className = "status";
      status.id = "pref-status-" + label;
      box.append(name, play, status);
      stimuli.append(box);
      choices.append(choiceButton(label, "Prefer " + label));
    });
    choices.append(choiceButton("none", "No preference"));
  }

  function choiceButton(choice, text) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "pref-choice-" + choice;
    button.dataset.choice = choice;
    button.textContent = text;
    button.addEventListener("click", () => choosePreference(choice));
    return button;
  }

  // ---- results ----

  function resultsName() {
    const safe = state.rater.replace(/[^A-Za-z0-9_.-]+/g, "_");
    return "listening_" + KIT.test_id + "_" + safe + ".json";
  }

  function results() {
    const times = [];
    const mos = state.mos_order.map((id, position) => {
      const s = stimulusById[id];
      const a = state.mos[id] || null;
      if (a) times.push(a.rated_at);
      return {position: position, stimulus: id, utt: s.utt, system: s.system,
        score: a ? a.score : null, label: a ? ACR[a.score] : null,
        first_rated_at: a ? a.first_rated_at : null, rated_at: a ? a.rated_at : null,
        changes: a ? a.changes : null};
    });
    const preference = state.preference_order.map((t, position) => {
      const a = state.preference[t.utt] || null;
      if (a) times.push(a.rated_at);
      return {position: position, utt: t.utt, labels: t.labels,
        choice_label: a ? a.choice : null,
        choice: a ? (a.choice === "none" ? "none" : t.labels[a.choice]) : null,
        first_rated_at: a ? a.first_rated_at : null, rated_at: a ? a.rated_at : null,
        changes: a ? a.changes : null};
    });
    times.sort();
    return {
      format: RESULTS_FORMAT, version: RESULTS_VERSION,
      kit_format: KIT.format, kit_version: KIT.version,
      test_id: KIT.test_id, rater: state.rater, seed: state.seed, prng: PRNG,
      started_at: state.started_at, finished_at: times.length ? times[times.length - 1] : null,
      saved_at: now(), user_agent: navigator.userAgent,
      scale: ACR, systems: KIT.systems, preference_systems: KIT.preference.systems,
      mos_order: state.mos_order.map((id) => ({stimulus: id, utt: stimulusById[id].utt,
        system: stimulusById[id].system})),
      preference_order: state.preference_order,
      mos: mos, preference: preference,
    };
  }

  function download() {
    if (!complete()) return;
    const blob = new Blob([JSON.stringify(results(), null, 1) + "\n"],
      {type: "application/json"});
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = resultsName();
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    state.downloaded_at = now();
    save();
    render();
  }

  // ---- starting or resuming ----

  function start() {
    const rater = $("rater-id").value.trim();
    if (!rater) {
      $("start-error").textContent = "Enter your rater ID to start.";
      $("rater-id").focus();
      return;
    }
    $("start-error").textContent = "";
    heard = new Set();
    state = load(rater);
    if (!state) {
      const p = plan(rater);
      state = {
        format: "sniper-listening-state", version: 1, test_id: KIT.test_id, rater: rater,
        seed: p.seed, mos_order: p.mos_order, preference_order: p.preference_order,
        mos: {}, preference: {}, phase: "mos", index: 0, started_at: now(),
      };
    }
    rememberRater(rater);
    save();
    render();
  }

  $("start").addEventListener("click", start);
  $("rater-id").addEventListener("keydown", (e) => { if (e.key === "Enter") start(); });
  $("mos-play").addEventListener("click", () => {
    const id = currentStimulus();
    playKey(mosKey(id), stimulusById[id].file);
  });
  document.querySelectorAll("#mos-scale [data-score]").forEach((button) => {
    button.addEventListener("click", () => rateMos(Number(button.dataset.score)));
  });
  $("mos-prev").addEventListener("click", () => go("mos", state.index - 1));
  $("mos-next").addEventListener("click", () => {
    if (state.index + 1 < state.mos_order.length) go("mos", state.index + 1);
    else go("pref", 0);
  });
  $("pref-prev").addEventListener("click", () => {
    if (state.index > 0) go("pref", state.index - 1);
    else go("mos", state.mos_order.length - 1);
  });
  $("pref-next").addEventListener("click", () => {
    if (state.index + 1 < state.preference_order.length) go("pref", state.index + 1);
    else if (complete()) go("done", 0);
    else go(...firstUnanswered());
  });
  $("go-finish").addEventListener("click", () => go("done", 0));
  $("review").addEventListener("click", () => go("mos", 0));
  $("download").addEventListener("click", download);

  function firstUnanswered() {
    const m = state.mos_order.findIndex((id) => !state.mos[id]);
    if (m >= 0) return ["mos", m];
    return ["pref", state.preference_order.findIndex((t) => !state.preference[t.utt])];
  }

  buildPreferenceControls();
  try {
    $("rater-id").value = localStorage.getItem(STORE + "last-rater") || "";
  } catch (e) {
    $("storage-warning").hidden = false;
  }
  render();

  // for test drivers and the curious: the orders any rater ID would get, and the answers
  window.listeningKit = {
    plan: plan,
    state: () => (state ? JSON.parse(JSON.stringify(state)) : null),
    results: () => (state ? results() : null),
  };
})();
