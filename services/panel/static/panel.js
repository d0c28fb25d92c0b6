// The board's live side: follows the store's event stream, reloads the board whenever the stream
// (re)opens or something happens, rings for new orders and counts down confirmation deadlines.
// The configuration page's live preview of the customer's messages.
"use strict";

(function () {
  const board = document.getElementById("quadro");
  const connection = document.getElementById("conexao");
  const soundButton = document.getElementById("som");
  let soundOn = false;
  let audio = null;

  function say(text) { if (connection) connection.textContent = text; }

  function ring() {
    if (!soundOn || !audio) return;
    const now = audio.currentTime;
    [0, 0.25, 0.5].forEach(function (offset) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.3, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.001, now + offset + 0.2);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + offset);
      tone.stop(now + offset + 0.2);
    });
  }

  function countdowns() {
    document.querySelectorAll("[data-deadline]").forEach(function (node) {
      const left = Math.round((Date.parse(node.dataset.deadline) - Date.now()) / 1000);
      if (left <= 0) { node.textContent = "Prazo de confirmação esgotado"; return; }
      const minutes = Math.floor(left / 60), seconds = String(left % 60).padStart(2, "0");
      node.textContent = "Confirmar em " + minutes + ":" + seconds;
    });
  }

  let reloading = null;
  function reload() {
    // One reload at a time; a signal during a reload asks for one more after it.
    if (reloading) { reloading.again = true; return; }
    reloading = { again: false };
    fetch(board.dataset.board, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (answer.redirected || answer.status === 401) { window.location.href = "/entrar"; return null; }
        // An unchanged board is left alone, so a button about to be pressed stays in place.
        const version = answer.headers.get("X-Board-Version");
        if (!answer.ok || version === board.dataset.version) return null;
        return answer.text().then(function (html) { return { html: html, version: version }; });
      })
      .then(function (fresh) {
        if (fresh === null) return;
        const open = document.activeElement && board.contains(document.activeElement);
        // Keep the board as it is while someone is typing in one of its forms.
        if (open && /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName)) return;
        board.innerHTML = fresh.html;
        board.dataset.version = fresh.version;
        countdowns();
      })
      .finally(function () {
        const again = reloading.again;
        reloading = null;
        if (again) reload();
      });
  }

  if (board) {
    const events = new EventSource(board.dataset.events);
    events.addEventListener("ready", function () { say("Ao vivo"); reload(); });
    events.addEventListener("change", reload);
    events.addEventListener("order", function () { ring(); reload(); });
    events.addEventListener("unavailable", function () { say("Loja ainda sem pedidos; tentando de novo…"); });
    events.onerror = function () { say("Reconectando…"); };
    setInterval(countdowns, 1000);
    countdowns();
  }

  if (soundButton) {
    soundButton.addEventListener("click", function () {
      soundOn = !soundOn;
      if (soundOn && !audio) audio = new (window.AudioContext || window.webkitAudioContext)();
      soundButton.setAttribute("aria-pressed", String(soundOn));
      soundButton.textContent = soundOn ? "Som ativado" : "Ativar som";
      ring();
    });
  }

  function preview(area) {
    const output = document.getElementById(area.dataset.preview);
    const sample = JSON.parse(output.dataset.sample);
    const store = document.getElementById("storeName");
    sample.store_name = store ? store.value : "";
    output.textContent = area.value.replace(/\{([^{}]*)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(sample, name) ? sample[name] : whole;
    }) || "(nenhuma mensagem)";
  }
  document.querySelectorAll("textarea[data-preview]").forEach(function (area) {
    area.addEventListener("input", function () { preview(area); });
    preview(area);
  });
})();
