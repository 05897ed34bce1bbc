// Lanes for elements drawn inside an expanded subprocess. bpmn-js keeps lane membership
// (lane.flowNodeRef) only for direct children of a pool; Pathfinder's diagram draws its whole
// procedure inside one subprocess spanning the lanes, and SpiffWorkflow reads the lane of every
// task from flowNodeRef. So a task created or moved there joins the pool lane it sits in.
import inherits from "inherits-browser";
import CommandInterceptor from "diagram-js/lib/command/CommandInterceptor";
import { is } from "bpmn-js/lib/util/ModelUtil";
import { collectLanes } from "bpmn-js/lib/features/modeling/util/LaneUtil";

function pool(shape) {
  let parent = shape.parent;
  while (parent && !is(parent, "bpmn:Participant")) parent = parent.parent;
  return parent;
}

function contains(lane, shape) {
  const x = shape.x + shape.width / 2;
  const y = shape.y + shape.height / 2;
  return x > lane.x && x < lane.x + lane.width && y > lane.y && y < lane.y + lane.height;
}

export default function NestedLaneBehavior(eventBus, modeling) {
  CommandInterceptor.call(this, eventBus);
  this.postExecuted(["shape.create", "shape.move"], (event) => {
    const shape = event.context.shape;
    if (!shape || shape.labelTarget || !is(shape, "bpmn:FlowNode") || !shape.parent) return;
    if (is(shape.parent, "bpmn:Participant") || is(shape.parent, "bpmn:Process")) return;
    const participant = pool(shape);
    if (!participant) return;
    const lanes = collectLanes(participant).filter((l) => !l.children.some((c) => is(c, "bpmn:Lane")));
    const target = lanes.find((l) => contains(l, shape));
    const node = shape.businessObject;
    lanes.forEach((lane) => {
      const refs = lane.businessObject.get("flowNodeRef");
      const has = refs.includes(node);
      const should = lane === target;
      if (has !== should) {
        modeling.updateModdleProperties(lane, lane.businessObject, {
          flowNodeRef: should ? [...refs, node] : refs.filter((r) => r !== node),
        });
      }
    });
  });
}
inherits(NestedLaneBehavior, CommandInterceptor);
NestedLaneBehavior.$inject = ["eventBus", "modeling"];
