from webworld import World


def test_world_builds_and_tom_sees_his_caseload(world: World) -> None:
    client = world.login("tom")
    page = client.get("/caseload")
    assert page.status_code == 200
    assert "Tina" in page.text
    assert "Theo" not in page.text
