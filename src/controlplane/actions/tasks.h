// TaskActions: RunTask, StartTask, StopTask, DescribeTasks, ListTasks and ExplainPlacement
// (tasks.cc). Launches and stops go through the Launcher.
#pragma once

#include "src/controlplane/actions/action_base.h"
#include "src/controlplane/actions/launcher.h"

namespace berth::controlplane {

class TaskActions : public ActionBase {
 public:
  TaskActions(const ActionContext& context, Launcher* launcher) : ActionBase(context), launcher_(launcher) {}

  void RunTask(const v1::RunTaskRequest& request, v1::RunTaskResponse* response, Done done);
  void StartTask(const v1::StartTaskRequest& request, v1::StartTaskResponse* response, Done done);
  void StopTask(const v1::StopTaskRequest& request, v1::StopTaskResponse* response, Done done);
  void DescribeTasks(const v1::DescribeTasksRequest& request, v1::DescribeTasksResponse* response, Done done);
  void ListTasks(const v1::ListTasksRequest& request, v1::ListTasksResponse* response, Done done);
  void ExplainPlacement(const v1::ExplainPlacementRequest& request, v1::ExplainPlacementResponse* response, Done done);

 private:
  Launcher* const launcher_;
};

}  // namespace berth::controlplane
