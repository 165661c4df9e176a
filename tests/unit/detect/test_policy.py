from streamproc.detect.policy import AlertPolicy, Finding, Window

W = Window(0.0, 60.0, 1000)


def finding(value, feature="x"):
    return Finding(
        "feature",
        feature,
        "psi",
        value=value,
        threshold=0.2,
        resolve_below=0.1,
        severity="warning",
        message=f"psi {value}",
        resolve_after=2,
    )


def statuses(policy, values, feature="x"):
    out = []
    for i, v in enumerate(values):
        window = Window(i * 60.0, (i + 1) * 60.0, 1000)
        out += [
            (i, a.status)
            for a in policy.observe(finding(v, feature), window, model_version="v", now=float(i))
        ]
    return out


def test_one_firing_and_one_resolved_per_episode_with_hysteresis():
    policy = AlertPolicy("m")
    # breach, stay, in-band (no change), clean, breach again (resets), clean, clean -> resolve
    values = [0.3, 0.5, 0.15, 0.05, 0.3, 0.05, 0.05, 0.05]
    assert statuses(policy, values) == [(0, "firing"), (6, "resolved")]
    assert policy.firing == {}


def test_below_threshold_never_fires_and_minimum_is_strict():
    policy = AlertPolicy("m")
    assert statuses(policy, [0.2, 0.19, 0.0]) == []


def test_ids_are_stable_for_the_same_episode_and_differ_between_episodes():
    def run():
        policy = AlertPolicy("m")
        alerts = []
        for i, v in enumerate([0.3, 0.0, 0.0, 0.4, 0.0, 0.0]):
            alerts += policy.observe(finding(v), Window(i, i + 1.0, 10), model_version="v", now=0)
        return alerts

    first, second = run(), run()
    assert [a.alert_id for a in first] == [a.alert_id for a in second]
    fire1, resolve1, fire2, resolve2 = first
    assert fire1.alert_id == resolve1.alert_id != fire2.alert_id == resolve2.alert_id


def test_keys_are_independent():
    policy = AlertPolicy("m")
    assert statuses(policy, [0.3], "x") == [(0, "firing")]
    assert statuses(policy, [0.3], "y") == [(0, "firing")]
    assert len(policy.firing) == 2
