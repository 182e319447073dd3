"""The client's check-in link: the form, one submission, and every way a link is refused."""

from __future__ import annotations

import re
from pathlib import Path

from webworld import Clock, World, build_world, csrf_from, full_answers

from alliance.services import goals as goal_service


def test_the_form_groups_each_question_in_a_fieldset_with_a_legend(world: World) -> None:
    page = world.client().get(f"/c/{world.cases['tom'].link_token}")
    assert page.status_code == 200
    fieldsets = page.text.count('<fieldset class="question"')
    legends = page.text.count("<legend>")
    assert fieldsets == legends
    assert fieldsets >= 12 + 9 + 1  # WAI-SR, PHQ-9, the agreed goal at least
    # Every radio button has a label bound to it.
    radio_ids = re.findall(r'<input type="radio" id="([^"]+)"', page.text)
    label_fors = set(re.findall(r'<label for="([^"]+)"', page.text))
    assert radio_ids
    assert set(radio_ids) <= label_fors
    assert "Sleep through the night" in page.text  # the goal agreed with the therapist
    assert "Anything your therapist should know" in page.text or "textarea" in page.text


def test_a_complete_check_in_is_stored_once_and_the_link_then_refuses_reuse(
    world: World,
) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    answers = full_answers(client.get(f"/c/{token}").text)
    done = client.post(f"/c/{token}", data=answers)
    assert done.status_code == 200
    assert "Thank you" in done.text
    again = client.post(f"/c/{token}", data=answers)
    assert again.status_code == 410
    assert "already been completed" in again.text
    reopened = client.get(f"/c/{token}")
    assert reopened.status_code == 410
    assert "Traceback" not in reopened.text


def test_the_thank_you_page_shows_progress_only_when_the_clinic_allows_it(
    tmp_path: Path,
) -> None:
    world = build_world(tmp_path)  # the test clinic shows clients their progress
    client = world.client()
    token = world.cases["tom"].link_token
    done = client.post(f"/c/{token}", data=full_answers(client.get(f"/c/{token}").text))
    assert "Your progress" in done.text
    assert "Patient Health Questionnaire-9 (PHQ-9)" in done.text
    assert "<svg" in done.text
    # Clinic B (Bea's) does the same; switch it off there and look again.
    from alliance.services import admin as admin_service

    bob = world.people["bob"].actor
    current = admin_service.get_clinic(world.ctx, actor=bob).settings
    admin_service.update_clinic_settings(
        world.ctx, actor=bob, settings={**current.to_json(), "show_client_progress": False}
    )
    token_b = world.new_link("bea")
    done_b = client.post(f"/c/{token_b}", data=full_answers(client.get(f"/c/{token_b}").text))
    assert done_b.status_code == 200
    assert "<svg" not in done_b.text


def test_an_expired_link_is_refused_with_a_friendly_page(tmp_path: Path) -> None:
    clock = Clock()
    world = build_world(tmp_path, clock=clock)
    token = world.cases["tom"].link_token
    clock.advance(days=world.ctx.settings.checkin_link_days, seconds=1)
    page = world.client().get(f"/c/{token}")
    assert page.status_code == 410
    assert "This link has expired" in page.text


def test_an_unknown_link_is_refused(world: World) -> None:
    page = world.client().get("/c/not-a-real-token-at-all-xxxxxxxxxxxxxxx")
    assert page.status_code == 410
    assert "This link does not work" in page.text


def test_a_link_cannot_rate_another_clients_goals(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    answers = full_answers(client.get(f"/c/{token}").text)
    tess = world.people["tess"].actor
    theirs = goal_service.list_goals(
        world.ctx, actor=tess, episode_id=world.cases["tess"].episode_id
    )
    answers[f"goal/{theirs[0].id}"] = "9"
    refused = client.post(f"/c/{token}", data=answers)
    assert refused.status_code == 422
    assert "not a goal of this check-in" in refused.text.lower()
    # Nothing was stored: the link still works for a correct submission.
    answers.pop(f"goal/{theirs[0].id}")
    assert client.post(f"/c/{token}", data=answers).status_code == 200


def test_a_link_cannot_open_another_clients_record(world: World) -> None:
    client = world.client()
    client.get(f"/c/{world.cases['tom'].link_token}")
    for path in (f"/clients/{world.cases['tom'].client_id}", "/caseload"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")


def test_missing_answers_come_back_with_the_given_answers_kept(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    page = client.get(f"/c/{token}")
    answers = full_answers(page.text, pick="last")
    answers.pop("phq9/phq9_2")
    response = client.post(f"/c/{token}", data=answers)
    assert response.status_code == 422
    assert "Please answer: “Feeling down, depressed, or hopeless”" in response.text
    # The first WAI-SR answer stays checked, so the client does not start again.
    assert re.search(r'name="wai_sr/wai_1" value="5" checked', response.text)
    # And the link was not used up.
    assert client.get(f"/c/{token}").status_code == 200


def test_an_out_of_range_answer_is_refused_naming_the_question(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    answers = full_answers(client.get(f"/c/{token}").text)
    answers["phq9/phq9_1"] = "99"
    response = client.post(f"/c/{token}", data=answers)
    assert response.status_code == 422
    assert re.search(r'id="q-phq9-phq9_1-err">[^<]*99', response.text)


def test_a_field_that_is_not_on_the_form_is_refused(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    answers = full_answers(client.get(f"/c/{token}").text)
    answers["nonsense"] = "1"
    response = client.post(f"/c/{token}", data=answers)
    assert response.status_code == 422
    assert "not a question of this check-in" in response.text


def test_the_submission_needs_the_forms_csrf_token(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    answers = full_answers(client.get(f"/c/{token}").text)
    answers["csrf_token"] = "forged"
    assert client.post(f"/c/{token}", data=answers).status_code == 403
    assert client.get(f"/c/{token}").status_code == 200


def test_the_therapists_chart_shows_the_new_point(world: World) -> None:
    therapist = world.login("tom")
    client_page = f"/clients/{world.cases['tom'].client_id}"
    before = therapist.get(client_page).text
    assert "0 scores" in before
    visitor = world.client()
    token = world.cases["tom"].link_token
    visitor.post(f"/c/{token}", data=full_answers(visitor.get(f"/c/{token}").text, pick="last"))
    after = therapist.get(client_page).text
    assert "1 score, latest 5" in after  # WAI-SR answered "Always" throughout
    assert csrf_from(after)


def test_a_submission_without_the_signed_manifest_is_checked_the_slow_way(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    answers = full_answers(client.get(f"/c/{token}").text)
    answers.pop("_required")
    answers.pop("_required_sig")
    answers.pop("phq9/phq9_3")
    assert client.post(f"/c/{token}", data=answers).status_code == 422
    answers["phq9/phq9_3"] = "1"
    assert client.post(f"/c/{token}", data=answers).status_code == 200


def test_a_tampered_manifest_cannot_skip_required_questions(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    answers = full_answers(client.get(f"/c/{token}").text)
    answers["_required"] = answers["_required"].replace("phq9/phq9_3,", "")
    answers.pop("phq9/phq9_3")
    response = client.post(f"/c/{token}", data=answers)
    assert response.status_code == 422
    assert "Trouble falling or staying asleep" in response.text


def test_a_client_saves_half_and_finds_it_again_without_javascript(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    page = client.get(f"/c/{token}")
    count = re.search(r"<p>(\d+) questions\.", page.text)
    assert count
    total = int(count.group(1))
    assert f'class="question-count">1 of {total}</p>' in page.text
    assert f'class="question-count">{total} of {total}</p>' in page.text
    half = {
        k: v
        for k, v in full_answers(page.text, pick="last").items()
        if k.startswith(("wai_sr/", "csrf_token", "_required"))
    }
    saved = client.post(f"/c/{token}", data={**half, "_action": "save"})
    assert saved.status_code == 200
    assert "Your answers so far are saved" in saved.text
    # Coming back later through the same link: the saved answers are filled in.
    again = client.get(f"/c/{token}")
    assert "Welcome back" in again.text
    assert re.search(r'name="wai_sr/wai_1" value="5" checked', again.text)
    assert not re.search(r'name="phq9/phq9_1" value="\d+" checked', again.text)
    # Sending still needs every answer, and then works once.
    done = client.post(f"/c/{token}", data=full_answers(again.text))
    assert done.status_code == 200
    assert "Thank you" in done.text


def test_the_page_script_saves_answers_as_the_client_goes(world: World) -> None:
    client = world.client()
    token = world.cases["tom"].link_token
    page = client.get(f"/c/{token}")
    assert 'data-draft-url="/c/' in page.text
    csrf = csrf_from(page.text)
    ok = client.post(f"/c/{token}/draft", data={"csrf_token": csrf, "phq9/phq9_1": "2"})
    assert ok.status_code == 204
    assert re.search(r'name="phq9/phq9_1" value="2" checked', client.get(f"/c/{token}").text)
    bad = client.post(f"/c/{token}/draft", data={"csrf_token": csrf, "phq9/phq9_77": "2"})
    assert bad.status_code == 422
    assert "no such question" in bad.text
    client.post(f"/c/{token}", data=full_answers(page.text))
    used = client.post(f"/c/{token}/draft", data={"csrf_token": csrf, "phq9/phq9_1": "1"})
    assert used.status_code == 410


def test_a_used_link_shows_the_clients_progress_and_goals_until_it_expires(
    world: World, tmp_path: Path
) -> None:
    case = world.cases["tom"]
    goal_service.agree_goals(
        world.ctx, actor=world.people["tom"].actor, client_id=case.client_id, goals=["Sleep"]
    )
    client = world.client()
    for _ in range(2):
        token = world.new_link("tom")
        page = client.get(f"/c/{token}")
        client.post(f"/c/{token}", data=full_answers(page.text))
    again = client.get(f"/c/{token}")
    assert again.status_code == 410
    assert "Already sent" in again.text
    assert "Your progress" in again.text
    assert "Your goals" in again.text
    assert "Sleep" in again.text
    assert "out of 10" in again.text
    # Client pages carry no staff footer.
    assert "Do not share screenshots" not in again.text
    assert "Do not share screenshots" not in page.text
    assert "Do not share screenshots" in world.login("tom").get("/caseload").text


def test_the_clinic_chooses_what_the_clients_progress_shows(world: World) -> None:
    from alliance.services import admin as admin_service

    case = world.cases["tom"]
    ada = world.people["ada"].actor
    goal_service.agree_goals(
        world.ctx, actor=world.people["tom"].actor, client_id=case.client_id, goals=["Walk"]
    )
    current = admin_service.get_clinic(world.ctx, actor=ada).settings
    admin_service.update_clinic_settings(
        world.ctx,
        actor=ada,
        settings=current.model_copy(update={"client_progress_shows": ("goals",)}),
    )
    client = world.client()
    token = world.new_link("tom")
    done = client.post(f"/c/{token}", data=full_answers(client.get(f"/c/{token}").text))
    assert "Your goals" in done.text
    assert "<svg" not in done.text


def test_client_pages_name_the_clinic_in_their_header(world: World) -> None:
    client = world.client()
    token = world.new_link("tom")
    page = client.get(f"/c/{token}")
    clinic = re.search(r'<span class="brand">Alliance</span><span>([^<]+)</span>', page.text)
    assert clinic
    assert clinic.group(1).strip()
    done = client.post(f"/c/{token}", data=full_answers(page.text))
    assert f"<span>{clinic.group(1)}</span>" in done.text
