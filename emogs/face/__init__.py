"""The face, as the library sees it: MediaPipe face-mesh index groups (`topology`), landmark
tracking (`landmarks`), action-unit estimation from landmarks (`action_units`), the still-eyeball
layer (`eye_layer`) and the mesh's triangles (`mesh_topology`).

Preprocessing stages (`preprocess/`) and the library (avatar init, training targets, evaluation,
the emotional edit) both use these; this package never depends on `preprocess`.
"""
