"""Shape quizzes: a layer's output shape or parameter count, typed by the student and checked.

Checked against the walkthrough, with the formula as the hint and a score for the session.

Every answer comes from ``alexnet_viz.quiz`` (the walkthrough), for any variant and any input size
the network runs at; the page only offers those sizes. No network is loaded or run here.
"""
import secrets

import streamlit as st

import classroom
import links
from alexnet_viz import quiz
from alexnet_viz.architecture import ARCHITECTURES

Q = "_quiz"  # session keys: the question state, the score
SCORE = "_quiz_score"
SEEDS = 2**31  # a question is (variant, size, seed); the seed is in the link, the answer is not

ss = st.session_state
st.title("Shape quiz")
st.caption("Work out a layer's output shape or parameter count from the layer table, type it, and check. "
           "Write shapes as 256×13×13, 256x13x13 or (256, 13, 13); counts as 37,752,832 or 37752832.")

if Q not in ss:
    ss[Q] = {"seed": secrets.randbelow(2**31), "number": 1, "hint": False, "shown": False,
             "scored": False, "verdict": None}
if SCORE not in ss:
    ss[SCORE] = {"right": 0, "asked": 0}
q_state, score = ss[Q], ss[SCORE]
link = links.Link("quiz")
asked = link.fresh("question")
if asked is not None:  # a shared question: the same one, not yet answered here
    shared = links.integer(0, SEEDS - 1)(asked) if asked.strip().isdigit() else None
    if shared is not None:
        q_state.update(seed=shared - q_state["number"], hint=False, shown=False, scored=False, verdict=None)
        q_state.pop("key", None)
        ss["quiz_answer"] = ""
    else:
        link.ignored.append(f"question={asked[:links.SHOWN]}")

a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
models = list(ARCHITECTURES)
link.seed("variant", "quiz_model", links.one_of(models), default=models[0])
model = a.selectbox("Variant", models, key="quiz_model",
                    format_func=lambda m: f"{m} — {ARCHITECTURES[m].title}")
sizes = quiz.runnable_sizes(model)
link.seed("size", "quiz_size", links.one_of(sizes))
if ss.get("quiz_size") not in sizes:
    ss["quiz_size"] = ARCHITECTURES[model].input_size if ARCHITECTURES[model].input_size in sizes else sizes[0]
size = b.select_slider("Input size (pixels per side)", sizes, key="quiz_size",
                       help=f"The sizes from {sizes[0]} to {sizes[-1]} at which {model} runs all the way to "
                            "its output; at other sizes its first fc layer gets the wrong number of inputs.")


def new_question() -> None:
    number = q_state["number"] + 1
    later = quiz.next_seed(model, size, (q_state["seed"] + q_state["number"]) % SEEDS)  # never the same again
    q_state.update(seed=later - number, number=number, hint=False, shown=False, scored=False, verdict=None)
    ss["quiz_answer"] = ""


c.button("New question", key="quiz_new", on_click=new_question, width="stretch")

question_seed = (q_state["seed"] + q_state["number"]) % SEEDS
question = quiz.make_question(model, size, seed=question_seed)
link.put("question", str(question_seed))
link.write()
key = (question.model, question.size, q_state["number"])
if q_state.get("key") != key:  # the variant or size changed under the question: a fresh one
    q_state.update(key=key, hint=False, shown=False, scored=False, verdict=None)

st.header(f"Question {q_state['number']}")
st.markdown(f"### {question.text}")
if classroom.leading():  # the same question to the class, as multiple choice with its answer
    classroom.ask_button("quiz", question.text, *classroom.quiz_options(question, question_seed))


def check() -> None:
    typed = ss.get("quiz_answer", "")
    try:
        verdict = quiz.check(question, typed)
    except quiz.AnswerError as exc:  # unreadable: say how to write it; it does not count
        q_state["verdict"] = ("warning", str(exc))
        return
    if not q_state["scored"] and not q_state["shown"]:  # the first readable answer counts
        score["asked"] += 1
        score["right"] += verdict.right
        q_state["scored"] = True
    q_state["verdict"] = ("success" if verdict.right else "error", verdict.message)
    if verdict.right:
        q_state["shown"] = True


with st.form("quiz_form", border=False, enter_to_submit=True):
    st.text_input("Your answer", key="quiz_answer", max_chars=60,  # a visitor's text: bounded
                  placeholder="e.g. 256×13×13" if question.kind == "shape" else "e.g. 37,752,832")
    st.form_submit_button("Check", on_click=check, type="primary")

if q_state["verdict"]:
    kind, message = q_state["verdict"]
    getattr(st, kind)(message)

h1, h2, _ = st.columns([1, 1.6, 2.4])
h1.button("Hint", key="quiz_hint", on_click=lambda: q_state.update(hint=True), disabled=q_state["hint"],
          width="stretch")
h2.button("Show the answer", key="quiz_show", on_click=lambda: q_state.update(hint=True, shown=True),
          disabled=q_state["shown"], width="stretch",
          help="Shows the worked answer; a question not yet answered then no longer counts.")
if q_state["hint"]:
    st.info(f"**Hint.** {question.hint}")
if q_state["shown"]:
    st.markdown(f"**The answer: {question.answer_text}**  \n{question.formula}")

st.divider()
st.metric("Score this session", f"{score['right']} of {score['asked']}",
          help="Each question counts once: the first answer that can be read as a shape or number.")
