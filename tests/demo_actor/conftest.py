import pytest


@pytest.fixture(scope="session")
def portrait256():
    from demo_actor.actor import load_portrait

    return load_portrait(None, 256)


@pytest.fixture(scope="session")
def hopper256():
    from demo_actor.actor import load_portrait

    return load_portrait("hopper", 256)


@pytest.fixture(scope="session")
def detector():
    from emogs.face.landmarks import FaceMeshDetector

    det = FaceMeshDetector(video_mode=False, max_faces=1)
    yield det
    det.close()
