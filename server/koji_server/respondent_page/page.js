"use strict";
// The respondent's chat page: starts (or resumes) the link's interview,
// streams the interviewer's replies, renders structured questions as
// widgets, and completes the interview at the end (or when the respondent
// leaves). Its only credential is the interview's session token, kept in
// sessionStorage so that a reload resumes the same interview.
(function () {
  var page = JSON.parse(document.getElementById("koji-page").textContent);
  var key = "koji-interview:" + page.token;
  var state = JSON.parse(sessionStorage.getItem(key) || "null");
  var conversation = document.getElementById("conversation");
  var statusLine = document.getElementById("status");
  var widget = document.getElementById("widget");
  var compose = document.getElementById("compose");
  var text = document.getElementById("text");
  var send = document.getElementById("send");
  var leave = document.getElementById("leave");
  var busy = false;

  function save() { sessionStorage.setItem(key, JSON.stringify(state)); }
  function say(message) { statusLine.textContent = message || ""; }

  function bubble(role, content) {
    var item = document.createElement("li");
    item.className = role;
    item.textContent = content;
    conversation.appendChild(item);
    item.scrollIntoView({block: "end"});
    return item;
  }

  function headers() {
    var h = {"content-type": "application/json"};
    if (state) h["x-session-token"] = state.session_token;
    return h;
  }

  function failure(response) {
    return response.json().then(function (body) {
      throw new Error(body && body.message ? body.message : "HTTP " + response.status);
    }, function () { throw new Error("HTTP " + response.status); });
  }

  function setBusy(value) {
    busy = value;
    send.disabled = value;
    widget.querySelectorAll("button").forEach(function (b) { b.disabled = value; });
  }

  function finish() {
    compose.hidden = true;
    widget.textContent = "";
    leave.hidden = true;
    var thanks = document.getElementById("thanks");
    thanks.hidden = false;
    thanks.focus();
  }

  function complete(reason, keepalive) {
    if (!state || state.completed) return Promise.resolve();
    state.completed = reason;
    save();
    return fetch("/api/v1/interviews/" + state.interview_id + "/complete", {
      method: "POST", headers: headers(), keepalive: keepalive,
      body: JSON.stringify({reason: reason})
    });
  }

  // One structured question as a form: its controls, then a Send button.
  function renderWidget(question) {
    widget.textContent = "";
    if (!question || !question.type || question.type === "open_ended") return;
    var config = question.config || {};
    var form = document.createElement("form");
    var fieldset = document.createElement("fieldset");
    var legend = document.createElement("legend");
    legend.textContent = question.text;
    fieldset.appendChild(legend);
    form.appendChild(fieldset);
    var name = "q-" + question.question_id;
    var read;

    function choices(type, items) {
      var box = document.createElement("div");
      box.className = "choices";
      items.forEach(function (item, n) {
        var label = document.createElement("label");
        var input = document.createElement("input");
        input.type = type;
        input.name = name;
        input.value = item.value;
        input.id = name + "-" + n;
        label.htmlFor = input.id;
        label.appendChild(input);
        label.appendChild(document.createTextNode(item.label));
        box.appendChild(label);
      });
      fieldset.appendChild(box);
      return function () {
        return Array.prototype.filter.call(box.querySelectorAll("input"), function (i) {
          return i.checked;
        });
      };
    }

    var options = (config.options || []).map(function (o) {
      return {value: o.option_id, label: o.label};
    });
    if (question.type === "scale") {
      var low = config.scale_min === undefined ? 0 : config.scale_min;
      var high = config.scale_max === undefined ? 10 : config.scale_max;
      var labels = config.scale_labels || {};
      var points = [];
      for (var v = low; v <= high; v++) {
        points.push({value: String(v), label: labels[v] ? v + " (" + labels[v] + ")" : String(v)});
      }
      var checkedScale = choices("radio", points);
      read = function () {
        var c = checkedScale();
        return c.length ? {answer: {scale_value: Number(c[0].value)}, content: c[0].value} : null;
      };
    } else if (question.type === "yes_no") {
      var checkedYes = choices("radio", [{value: "yes", label: "Yes"}, {value: "no", label: "No"}]);
      read = function () {
        var c = checkedYes();
        return c.length ? {answer: {yes_no: c[0].value === "yes"},
                           content: c[0].value === "yes" ? "Yes" : "No"} : null;
      };
    } else if (question.type === "single_choice" || question.type === "multiple_choice") {
      var single = question.type === "single_choice";
      var checked = choices(single ? "radio" : "checkbox", options);
      read = function () {
        var c = checked();
        if (!c.length) return null;
        return {answer: {option_ids: c.map(function (i) { return i.value; })},
                content: c.map(function (i) { return i.parentNode.textContent; }).join(", ")};
      };
    } else if (question.type === "ranking") {
      var list = document.createElement("ol");
      list.className = "ranking";
      var order = options.slice();
      var draw = function (focusId) {
        list.textContent = "";
        order.forEach(function (o, n) {
          var item = document.createElement("li");
          var label = document.createElement("span");
          label.textContent = o.label;
          item.appendChild(label);
          [["up", -1, "\u2191"], ["down", 1, "\u2193"]].forEach(function (m) {
            var b = document.createElement("button");
            b.type = "button";
            b.className = "quiet";
            b.id = name + "-" + o.value + "-" + m[0];
            b.textContent = m[2];
            b.setAttribute("aria-label", "Move " + o.label + " " + m[0]);
            b.disabled = (n === 0 && m[1] < 0) || (n === order.length - 1 && m[1] > 0);
            b.addEventListener("click", function () {
              var to = n + m[1];
              order.splice(to, 0, order.splice(n, 1)[0]);
              draw(b.id);
            });
            item.appendChild(b);
          });
          list.appendChild(item);
        });
        var again = focusId && document.getElementById(focusId);
        if (again && !again.disabled) again.focus();
      };
      draw();
      fieldset.appendChild(list);
      read = function () {
        return {answer: {option_ids: order.map(function (o) { return o.value; })},
                content: order.map(function (o) { return o.label; }).join(", ")};
      };
    } else {
      return;
    }
    var submit = document.createElement("button");
    submit.type = "submit";
    submit.textContent = "Send answer";
    fieldset.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var given = read();
      if (!given) { say("Choose an answer first, or type it below."); return; }
      given.answer.question_id = question.question_id;
      exchange(given.content, given.answer);
    });
    widget.appendChild(form);
  }

  function remember(role, content, question) {
    state.messages.push({role: role, content: content});
    state.question = question || null;
    save();
  }

  // Sends one message and shows the reply as its pieces arrive (SSE).
  function exchange(content, answer) {
    if (busy || !state || state.completed) return;
    setBusy(true);
    say("");
    bubble("respondent", content);
    remember("respondent", content, state.question);
    widget.textContent = "";
    var reply = null;
    var body = {content: content};
    if (answer) body.answer = answer;
    var h = headers();
    h.accept = "text/event-stream";
    fetch("/api/v1/interviews/" + state.interview_id + "/message", {
      method: "POST", headers: h, body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) return failure(response);
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, {stream: true});
          var cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            var block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            block.split("\n").forEach(function (line) {
              if (line.indexOf("data:") !== 0) return;
              var event = JSON.parse(line.slice(5));
              if (event.delta) {
                if (!reply) { reply = bubble("interviewer", ""); reply.classList.add("streaming"); }
                reply.textContent += event.delta.content;
              } else if (event.reply) {
                var said = event.reply.interviewer_response;
                if (!reply) reply = bubble("interviewer", "");
                reply.classList.remove("streaming");
                reply.textContent = said.content;
                remember("interviewer", said.content, said.question);
                if (event.reply.interview_status === "concluded") {
                  finish();
                  complete("natural", true);
                } else {
                  renderWidget(said.question);
                }
              } else if (event.error) {
                throw new Error(event.error.message);
              }
            });
          }
          return pump();
        });
      }
      return pump();
    }).catch(function (error) {
      say("Your message could not be sent: " + error.message);
    }).then(function () {
      setBusy(false);
      if (!compose.hidden) text.focus();
    });
  }

  function show() {
    state.messages.forEach(function (m) { bubble(m.role, m.content); });
    if (state.completed) { finish(); return; }
    renderWidget(state.question);
    text.focus();
  }

  compose.addEventListener("submit", function (event) {
    event.preventDefault();
    var content = text.value.trim();
    if (!content) return;
    text.value = "";
    exchange(content, null);
  });
  text.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      compose.requestSubmit();
    }
  });
  leave.addEventListener("click", function () {
    complete("respondent_left", true);
    finish();
  });

  if (state) { show(); return; }
  var rid = new URLSearchParams(location.search).get("rid");
  var start = {locale: page.locale};
  if (rid) start.rid = rid;
  setBusy(true);
  fetch("/api/v1/links/" + page.token + "/start", {
    method: "POST", headers: headers(), body: JSON.stringify(start)
  }).then(function (response) {
    return response.ok ? response.json() : failure(response);
  }).then(function (started) {
    state = {interview_id: started.interview_id, session_token: started.session_token,
             messages: [], question: null, completed: null};
    remember("interviewer", started.initial_message.content, started.initial_message.question);
    setBusy(false);
    show();
  }).catch(function (error) {
    compose.hidden = true;
    leave.hidden = true;
    say(error.message);
  });
})();
