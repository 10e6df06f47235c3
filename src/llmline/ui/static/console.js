// llmline console: keyboard shortcuts on the labeling page and the streaming chat. No libraries.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  var labelForm = document.getElementById("label-form");
  if (labelForm) {
    document.addEventListener("keydown", function (event) {
      if (event.target.tagName === "INPUT" || event.target.tagName === "TEXTAREA") return;
      if (event.key >= "1" && event.key <= "9") {
        var button = labelForm.querySelector('button[data-key="' + event.key + '"]');
        if (button) { event.preventDefault(); button.click(); }
      } else if (event.key === "Enter") {
        var pre = labelForm.querySelector("button.pre");
        if (pre) { event.preventDefault(); pre.click(); }
      } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        var link = document.getElementById(event.key === "ArrowRight" ? "next" : "prev");
        if (link) { event.preventDefault(); window.location = link.href; }
      }
    });
  }

  var chatForm = document.getElementById("chat-form");
  if (chatForm) {
    var log = document.getElementById("chat-log");
    var box = document.getElementById("chat-message");
    var history = [];
    chatForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      var message = box.value.trim();
      if (!message) return;
      box.value = "";
      var mine = document.createElement("div"); mine.className = "user"; mine.textContent = "you: " + message;
      var theirs = document.createElement("div"); theirs.className = "assistant"; theirs.id = "reply-" + history.length;
      log.appendChild(mine); log.appendChild(theirs);
      var response = await fetch("/chat/stream", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ message: message, history: JSON.stringify(history) }),
      });
      var text = "";
      if (!response.ok) { theirs.textContent = "error " + response.status; return; }
      var reader = response.body.getReader(), decoder = new TextDecoder();
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        text += decoder.decode(chunk.value, { stream: true });
        theirs.textContent = text;
      }
      theirs.dataset.done = "1";
      history.push({ role: "user", content: message }, { role: "assistant", content: text });
    });
  }
})();
