"""Diagram interchange conventions (``retention-flow lint``): a shape with bounds for every
flow node, lane and participant; an edge with waypoints for every sequence flow, starting
and ending on its shapes' borders and running through no other shape; no overlapping
shapes; boundary events on their activity's border; shapes inside their lane."""

from __future__ import annotations

from lxml import etree

from .bundle import Issue
from .lint_bpmn import FLOW_NODES
from .lint_model import NS, Add, local

Box = tuple[float, float, float, float]
Point = tuple[float, float]


def _bounds(shape: etree._Element) -> Box | None:
    b = shape.find("dc:Bounds", NS)
    if b is None:
        return None
    return tuple(float(b.get(k) or 0) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _inside(inner: Box, outer: Box) -> bool:
    return (
        inner[0] >= outer[0]
        and inner[1] >= outer[1]
        and inner[0] + inner[2] <= outer[0] + outer[2]
        and inner[1] + inner[3] <= outer[1] + outer[3]
    )


def _on_border(point: Point, box: Box, tolerance: float = 1.0) -> bool:
    x, y = point
    bx, by, bw, bh = box
    inside = (
        bx - tolerance <= x <= bx + bw + tolerance and by - tolerance <= y <= by + bh + tolerance
    )
    near = min(abs(x - bx), abs(x - bx - bw), abs(y - by), abs(y - by - bh)) <= tolerance
    return inside and near


def _segment_hits(p: Point, q: Point, box: Box, margin: float = 2.0) -> bool:
    """Does the axis-parallel segment p-q cross the inside of box? (Diagonals are not
    checked.)"""
    (x1, y1), (x2, y2) = p, q
    bx, by, bw, bh = box[0] + margin, box[1] + margin, box[2] - 2 * margin, box[3] - 2 * margin
    if abs(x1 - x2) < 0.5:
        return bx < x1 < bx + bw and max(min(y1, y2), by) < min(max(y1, y2), by + bh)
    if abs(y1 - y2) < 0.5:
        return by < y1 < by + bh and max(min(x1, x2), bx) < min(max(x1, x2), bx + bw)
    return False


def lint_layout(name: str, root: etree._Element, issues: list[Issue]) -> None:
    def add(element: str | None, message: str) -> None:
        issues.append(Issue(name, element, message))

    nodes: dict[str, etree._Element] = {}
    flows: dict[str, etree._Element] = {}
    lanes: list[etree._Element] = []
    for process in root.findall("bpmn:process", NS):
        nodes.update(
            (str(el.get("id")), el)
            for el in process
            if isinstance(el.tag, str) and local(el) in FLOW_NODES
        )
        flows.update((str(f.get("id")), f) for f in process.findall("bpmn:sequenceFlow", NS))
        lanes += process.findall("bpmn:laneSet/bpmn:lane", NS)
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    shapes = {s.get("bpmnElement"): s for s in root.iter(f"{{{NS['bpmndi']}}}BPMNShape")}
    all_boxes: dict[str, Box] = {}
    for el_id in [
        *nodes,
        *(lane.get("id") for lane in lanes),
        *(p.get("id") for p in participants),
    ]:
        box = _bounds(shapes[el_id]) if el_id in shapes else None
        if box is None:
            add(el_id, "no BPMNShape with bounds in the diagram")
        elif el_id in nodes:
            all_boxes[str(el_id)] = box
    boxes = {n: b for n, b in all_boxes.items() if local(nodes[n]) != "boundaryEvent"}
    _check_edges(root, nodes, flows, all_boxes, boxes, add)
    ids = sorted(boxes)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if _overlap(boxes[a], boxes[b]):
                add(a, f"shape overlaps {b}")
    for nid, el in nodes.items():
        host = el.get("attachedToRef")
        if local(el) == "boundaryEvent" and nid in all_boxes and host in boxes:
            centre = (
                all_boxes[nid][0] + all_boxes[nid][2] / 2,
                all_boxes[nid][1] + all_boxes[nid][3] / 2,
            )
            if not _on_border(centre, boxes[str(host)]):
                add(nid, "boundary event is not on the border of its activity")
    for lane in lanes:
        lane_box = _bounds(shapes[lane.get("id")]) if lane.get("id") in shapes else None
        for ref in lane.findall("bpmn:flowNodeRef", NS):
            ref_id = (ref.text or "").strip()
            box = boxes.get(ref_id)
            if lane_box and box and not _inside(box, lane_box):
                add(ref_id, f"shape is outside its lane {lane.get('id')}")


def _check_edges(
    root: etree._Element,
    nodes: dict[str, etree._Element],
    flows: dict[str, etree._Element],
    all_boxes: dict[str, Box],
    boxes: dict[str, Box],
    add: Add,
) -> None:
    edges = {e.get("bpmnElement"): e for e in root.iter(f"{{{NS['bpmndi']}}}BPMNEdge")}
    for fid, flow in flows.items():
        waypoints = edges[fid].findall("di:waypoint", NS) if fid in edges else []
        if len(waypoints) < 2:
            add(fid, "no BPMNEdge with waypoints in the diagram")
            continue
        points = [(float(w.get("x") or 0), float(w.get("y") or 0)) for w in waypoints]
        src, tgt = str(flow.get("sourceRef")), str(flow.get("targetRef"))
        if src in all_boxes and not _on_border(points[0], all_boxes[src]):
            add(fid, f"edge does not start on the border of {src}")
        if tgt in all_boxes and not _on_border(points[-1], all_boxes[tgt]):
            add(fid, f"edge does not end on the border of {tgt}")
        host = nodes[src].get("attachedToRef") if src in nodes else None
        for other, box in boxes.items():
            if other in (src, tgt, host):
                continue
            if any(_segment_hits(points[i], points[i + 1], box) for i in range(len(points) - 1)):
                add(fid, f"edge runs through {other}")
