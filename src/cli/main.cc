// berth: the command-line client of berthd, in the style of `aws ecs`. This file is the
// composition root: the command table (from the protobuf descriptors) becomes CLI11 subcommands,
// the parsed options become a request (request_builder), the Invoker calls berthd, and output
// renders the response. `berth wait <condition>` (waiter) polls Describe* until a condition holds.
// Defaults come from the configuration file (config).
//
// Exit status: 0 success; 1 error (bad usage, bad input, or an RPC error); 2 when the call
// succeeded but the response lists failures[] (tasks that could not be placed, resources not
// found). A waiter exits 0 when its condition holds and 1 when it timed out or cannot hold.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "berth/common/ecs_json.h"
#include "berth/common/strings.h"
#include "src/cli/command_table.h"
#include "src/cli/config.h"
#include "src/cli/invoker.h"
#include "src/cli/logs_command.h"
#include "src/cli/output.h"
#include "src/cli/request_builder.h"
#include "src/cli/table.h"
#include "src/cli/waiter.h"
#include "src/common/grpc_tls.h"

namespace berth::cli {
namespace {

constexpr char kDefaultEndpoint[] = "127.0.0.1:7480";  // berthd's default --grpc-listen
constexpr char kEndpointVariable[] = "BERTH_ENDPOINT";
// An API token for a berthd that authenticates (docs/security.md).
constexpr char kTokenVariable[] = "BERTH_TOKEN";
// The PEM CA bundle that signed berthd's TLS certificate; set, the CLI speaks TLS.
constexpr char kTlsCaVariable[] = "BERTH_TLS_CA";
constexpr int kExitError = 1;
constexpr int kExitFailures = 2;

constexpr char kDefaultOutput[] = "json";

struct GlobalFlags {
  std::string endpoint;
  std::string output;  // empty: the configuration file's, then kDefaultOutput
  std::string timeout = "30";
};

// What `berth wait <condition>` parsed.
struct WaitSlots {
  CLI::App* app = nullptr;
  struct Condition {
    WaitCondition condition;
    CLI::App* app = nullptr;
  };
  std::vector<Condition> conditions;
  std::string cluster;
  CLI::Option* cluster_option = nullptr;
  std::vector<std::string> names;
  std::string delay = "2";
  std::string timeout = "600";
};

// Where CLI11 stores what it parsed for one option of one command.
struct OptionSlot {
  const OptionSpec* spec = nullptr;
  CLI::Option* option = nullptr;
  std::string value;                // kScalar (bools: "true"/"false"), kJson
  std::vector<std::string> values;  // kRepeatedScalar
};

struct CommandSlots {
  const CommandSpec* spec = nullptr;
  CLI::App* app = nullptr;
  std::string cli_input_json;
  CLI::Option* cli_input_json_option = nullptr;
  std::vector<std::unique_ptr<OptionSlot>> options;
};

void PrintError(std::string_view command, std::string_view message) {
  if (command.empty()) {
    std::cerr << "berth: " << message << "\n";
  } else {
    std::cerr << "berth: " << command << ": " << message << "\n";
  }
}

const char* StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      break;
  }
  return "UNKNOWN";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The first argument that is neither a global option nor its value: what the user meant as the
// command. Empty when there is none.
std::string CommandWord(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--endpoint" || arg == "--output" || arg == "--timeout") {
      ++i;
      continue;
    }
    if (!arg.empty() && arg.front() == '-') continue;
    return std::string(arg);
  }
  return "";
}

std::string UnknownCommandMessage(const std::vector<CommandSpec>& commands, const std::string& word) {
  std::string message = StrCat("unknown command '", word, "'");
  const CommandSpec* closest = nullptr;
  size_t best = 4;  // suggest only near misses
  for (const CommandSpec& command : commands) {
    size_t distance = EditDistance(word, command.name);
    if (distance < best) {
      best = distance;
      closest = &command;
    }
  }
  if (closest != nullptr) StrAppend(&message, "; did you mean '", closest->name, "'?");
  StrAppend(&message, " ('berth --help' lists the commands)");
  return message;
}

void AddCommand(CLI::App& app, const CommandSpec& spec, CommandSlots* slots) {
  slots->spec = &spec;
  slots->app = app.add_subcommand(spec.name, StrCat("ContainerService/", spec.method->name()));
  CLI::App& command = *slots->app;
  command.group("Commands");
  command.footer(
      "JSON options take inline JSON or file://PATH. Global options (--endpoint, --output, --timeout) may "
      "also follow the command.\n");
  slots->cli_input_json_option =
      command
          .add_option("--cli-input-json", slots->cli_input_json,
                      StrCat("the whole ", spec.method->input_type()->name(),
                             " as JSON: file://PATH, - (standard input) or inline; options given as well override "
                             "its fields"))
          ->type_name("JSON")
          ->group("Input");
  for (const OptionSpec& option : spec.options) {
    auto slot = std::make_unique<OptionSlot>();
    slot->spec = &option;
    switch (option.kind) {
      case OptionKind::kScalar:
        if (option.field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL) {
          slot->option = command.add_flag(option.flag, slot->value, option.description);
        } else {
          slot->option = command.add_option(option.flag, slot->value, option.description);
        }
        break;
      case OptionKind::kRepeatedScalar:
        slot->option = command.add_option(option.flag, slot->values, option.description);
        break;
      case OptionKind::kJson:
        slot->option = command.add_option(option.flag, slot->value, option.description);
        break;
    }
    slot->option->type_name(option.type_label)->group("Request options");
    slots->options.push_back(std::move(slot));
  }
}

RequestInput CollectInput(const CommandSlots& slots) {
  RequestInput input;
  if (slots.cli_input_json_option->count() > 0) input.cli_input_json = slots.cli_input_json;
  for (const auto& slot : slots.options) {
    if (slot->option->count() == 0) continue;
    OptionValue value;
    value.spec = slot->spec;
    if (slot->spec->kind == OptionKind::kRepeatedScalar) {
      value.values = slot->values;
    } else {
      value.values = {slot->value};
    }
    input.options.push_back(std::move(value));
  }
  return input;
}

const char* NonEmptyVariable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

// Where and how to reach berthd: endpoint, token and channel security.
struct Connection {
  std::string endpoint;
  std::string token;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

absl::StatusOr<Connection> ResolveConnection(const GlobalFlags& flags, const CLI::Option& endpoint_option,
                                             const CliConfig& config) {
  Connection connection;
  if (endpoint_option.count() > 0) {
    connection.endpoint = flags.endpoint;
  } else if (const char* env = NonEmptyVariable(kEndpointVariable)) {
    connection.endpoint = env;
  } else {
    connection.endpoint = config.endpoint.value_or(kDefaultEndpoint);
  }
  if (const char* token = NonEmptyVariable(kTokenVariable)) connection.token = token;
  ClientTls tls;
  std::string setting;
  if (const char* ca = NonEmptyVariable(kTlsCaVariable)) {
    tls = {.enabled = true, .ca_path = ca, .cert_path = {}, .key_path = {}};
    setting = StrCat("$", kTlsCaVariable);
  } else if (config.tls_ca.has_value()) {
    tls = {.enabled = true, .ca_path = *config.tls_ca, .cert_path = {}, .key_path = {}};
    setting = StrCat(config.path, ": tls-ca");
  }
  auto credentials = ChannelCredentialsFor(tls, setting);
  if (!credentials.ok()) return credentials.status();
  connection.credentials = *std::move(credentials);
  return connection;
}

bool ParseTimeout(const std::string& text, std::chrono::milliseconds* timeout) {
  double seconds = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, seconds);
  if (text.empty() || ec != std::errc() || ptr != end || !(seconds > 0) || seconds > 86400.0 * 365) return false;
  *timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
  if (timeout->count() == 0) *timeout = std::chrono::milliseconds(1);
  return true;
}

// One line for a failed call: "cannot reach berthd at HOST:PORT: ..." when berthd was not reached,
// otherwise the code name and berthd's message.
void PrintRpcError(std::string_view command, const std::string& method, const grpc::Status& status,
                   const Invoker& invoker, std::chrono::milliseconds timeout) {
  const std::string& endpoint = invoker.endpoint();
  const bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && invoker.NotConnected());
  if (unreachable) {
    // berthd itself answers UNAVAILABLE while it shuts down: then the hint would mislead.
    const std::string hint =
        invoker.NotConnected()
            ? StrCat(". Is berthd running? Start one with scripts/run.sh, or point --endpoint, $", kEndpointVariable,
                     " or the configuration file at it. If berthd serves TLS, set $", kTlsCaVariable,
                     " (or tls-ca in the configuration file).")
            : "";
    PrintError(command, StrCat("cannot reach berthd at ", endpoint, ": ", StatusCodeName(status.error_code()), ": ",
                               status.error_message(), hint));
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    PrintError(command, StrCat("DEADLINE_EXCEEDED: no answer from ", endpoint, " within ", timeout.count() / 1000.0,
                               " s (--timeout)"));
  } else if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED && status.error_message().empty()) {
    PrintError(command, StrCat("UNIMPLEMENTED: berthd at ", endpoint, " does not serve ", method, " yet"));
  } else {
    PrintError(command, StrCat(StatusCodeName(status.error_code()), ": ", status.error_message()));
  }
}

int Invoke(const CommandSlots& slots, const Connection& connection, OutputFormat format,
           std::chrono::milliseconds timeout) {
  const CommandSpec& command = *slots.spec;
  auto built = BuildRequest(command, CollectInput(slots));
  if (!built.ok()) {
    PrintError(command.name, std::string(built.status().message()));
    return kExitError;
  }
  if (!built->dropped_output_only_fields.empty()) {
    std::string names;
    for (const std::string& name : built->dropped_output_only_fields)
      StrAppend(&names, names.empty() ? "" : ", ", name);
    PrintError("", StrCat("ignoring output-only fields of describe-task-definition output: ", names));
  }

  std::unique_ptr<google::protobuf::Message> response(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(command.method->output_type())->New());
  Invoker invoker(connection.endpoint, connection.token, connection.credentials);
  grpc::Status status = invoker.Call(*command.method, *built->request, response.get(), timeout);
  if (!status.ok()) {
    PrintRpcError(command.name, command.method->name(), status, invoker, timeout);
    return kExitError;
  }

  auto doc = ResponseDocument(*response, ecsjson::IncludesTags(*built->request));
  if (!doc.ok()) {
    PrintError(command.name, std::string(doc.status().message()));
    return kExitError;
  }
  std::cout << Render(*doc, *command.method->output_type(), format) << std::flush;
  if (std::string token = NextToken(*doc); format != OutputFormat::kJson && !token.empty()) {
    PrintError(command.name, StrCat("more results: continue with --next-token ", token));
  }
  std::vector<std::string> failures = FailureLines(*doc);
  if (format == OutputFormat::kTable) {
    if (std::string table = FailureTable(*doc); !table.empty()) {
      table.pop_back();  // PrintError ends the line
      PrintError(command.name, StrCat("failures:\n", table));
    }
  } else {
    for (const std::string& line : failures) PrintError(command.name, StrCat("failure: ", line));
  }
  return failures.empty() ? 0 : kExitFailures;
}

void AddWait(CLI::App& app, WaitSlots* slots) {
  slots->app = app.add_subcommand("wait", "waits until services are stable or tasks are running or stopped");
  slots->app->group("Commands");
  slots->app->require_subcommand(1);
  slots->app->footer("Exit status 0 when the condition holds, 1 on timeout or when it can no longer hold.\n");
  struct Shape {
    WaitCondition condition;
    const char* help;
    const char* names_flag;
  };
  const Shape shapes[] = {
      {WaitCondition::kServicesStable,
       "until every service is ACTIVE with one deployment, COMPLETED, and runningCount == desiredCount", "--services"},
      {WaitCondition::kTasksRunning, "until every task is RUNNING (fails when one stops)", "--tasks"},
      {WaitCondition::kTasksStopped, "until every task is STOPPED", "--tasks"},
  };
  for (const Shape& shape : shapes) {
    CLI::App* sub = slots->app->add_subcommand(std::string(WaitConditionName(shape.condition)), shape.help);
    slots->conditions.push_back({shape.condition, sub});
    sub->add_option("--cluster", slots->cluster, "the cluster (default: default)")->type_name("STRING");
    sub->add_option(shape.names_flag, slots->names, "names or ARNs")->type_name("STRING")->required();
    sub->add_option("--delay", slots->delay, "seconds between polls (default 2)")->type_name("SECONDS");
    sub->add_option("--timeout", slots->timeout, "give up after this many seconds (default 600)")->type_name("SECONDS");
  }
}

int Wait(const WaitSlots& slots, const Connection& connection, const GlobalFlags& flags,
         const CLI::Option& global_timeout) {
  WaitRequest request;
  std::string name = "wait";
  for (const auto& condition : slots.conditions) {
    if (condition.app->parsed()) {
      request.condition = condition.condition;
      name = StrCat("wait ", WaitConditionName(condition.condition));
    }
  }
  if (!slots.cluster.empty()) request.cluster = slots.cluster;
  request.names = slots.names;
  // `berth --timeout N wait ...` and `berth wait ... --timeout N` both bound the whole wait.
  bool own_timeout = false;
  for (const auto& condition : slots.conditions) {
    if (condition.app->parsed() && condition.app->get_option("--timeout")->count() > 0) own_timeout = true;
  }
  const std::string& timeout_text = own_timeout || global_timeout.count() == 0 ? slots.timeout : flags.timeout;
  if (!ParseTimeout(timeout_text, &request.timeout)) {
    PrintError(name, StrCat("--timeout: expected a positive number of seconds, got '", timeout_text, "'"));
    return kExitError;
  }
  if (!ParseTimeout(slots.delay, &request.delay)) {
    PrintError(name, StrCat("--delay: expected a positive number of seconds, got '", slots.delay, "'"));
    return kExitError;
  }
  Invoker invoker(connection.endpoint, connection.token, connection.credentials);
  WaitResult result = RunWaiter(request, invoker, isatty(STDERR_FILENO) == 1);
  switch (result.outcome) {
    case WaitResult::Outcome::kMet:
      return 0;
    case WaitResult::Outcome::kImpossible:
      PrintError(name, StrCat("the condition can no longer hold: ", result.message));
      return kExitError;
    case WaitResult::Outcome::kTimedOut:
      PrintError(name, StrCat("timed out after ", request.timeout.count() / 1000.0, " s",
                              result.message.empty() ? "" : StrCat(" (", result.message, ")")));
      return kExitError;
    case WaitResult::Outcome::kRpcError:
      PrintRpcError(name, result.method, result.rpc_status, invoker, request.call_timeout);
      return kExitError;
  }
  return kExitError;
}

// What `berth logs` parsed.
struct LogsSlots {
  CLI::App* app = nullptr;
  LogsRequest request;
  std::string since;
  int tail = -1;
};

void AddLogs(CLI::App& app, LogsSlots* slots) {
  slots->app = app.add_subcommand("logs", "prints a task's container output (from berthd's log store)");
  slots->app->group("Commands");
  LogsRequest& r = slots->request;
  slots->app->add_option("task", r.task, "the task: id or ARN")->required()->type_name("TASK");
  slots->app->add_option("--cluster", r.cluster, "the cluster (default: default)")->type_name("STRING");
  slots->app->add_option("--container", r.container, "one container (default: all, each line prefixed by its name)")
      ->type_name("NAME");
  slots->app->add_flag("-f,--follow", r.follow, "keep printing new output; ends once the task stopped");
  slots->app->add_option("--since", slots->since, "only output of the last DURATION (90s, 15m, 2h, 1d)")
      ->type_name("DURATION");
  slots->app->add_option("--tail", slots->tail, "only the last N events of each container")->type_name("N");
  slots->app->add_flag("--timestamps", r.timestamps, "start each line with the event's time (UTC)");
}

int Logs(LogsSlots& slots, const Connection& connection, const GlobalFlags& flags) {
  LogsRequest& r = slots.request;
  if (!slots.since.empty()) {
    r.since = ParseDuration(slots.since);
    if (!r.since) {
      PrintError("logs", StrCat("--since: expected a duration such as 90s, 15m, 2h or 1d, got '", slots.since, "'"));
      return kExitError;
    }
  }
  if (slots.app->get_option("--tail")->count() > 0) {
    if (slots.tail < 0) {
      PrintError("logs", StrCat("--tail: expected 0 or more events, got ", slots.tail));
      return kExitError;
    }
    r.tail = slots.tail;
  }
  if (!ParseTimeout(flags.timeout, &r.call_timeout)) {
    PrintError("logs", StrCat("--timeout: expected a positive number of seconds, got '", flags.timeout, "'"));
    return kExitError;
  }
  Invoker invoker(connection.endpoint, connection.token, connection.credentials);
  absl::Status status = RunLogs(r, invoker, std::cout);
  if (!status.ok()) {
    PrintError("logs", std::string(status.message()));
    return kExitError;
  }
  return 0;
}

int Main(int argc, char** argv) {
  const std::vector<CommandSpec> commands = BuildCommandTable(ContainerServiceDescriptor());

  CLI::App app{
      "berth: the command-line client of berthd (Berth's ECS-style control plane).\n"
      "Each command is one RPC of berth.v1.ContainerService, named as `aws ecs` names it.",
      "berth"};
  app.fallthrough();  // global options are accepted after the command too
  app.get_formatter()->column_width(44);
  app.get_formatter()->label("SUBCOMMAND", "COMMAND");
  app.set_version_flag("--version", StrCat("berth ", BERTH_VERSION));
  GlobalFlags flags;
  CLI::Option* endpoint_option =
      app.add_option("--endpoint", flags.endpoint,
                     StrCat("berthd's gRPC address; default $", kEndpointVariable,
                            ", then the configuration file's endpoint, then ", kDefaultEndpoint))
          ->type_name("HOST:PORT");
  app.add_option("--output", flags.output,
                 "json (default, or the configuration file's output), text (for scripts) or table (for people)")
      ->type_name("FORMAT");
  CLI::Option* timeout_option =
      app.add_option("--timeout", flags.timeout, "deadline of the call in seconds (default 30)")->type_name("SECONDS");
  app.footer("'berth <command> --help' lists the options of a command.\n");

  std::vector<CommandSlots> slots(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) AddCommand(app, commands[i], &slots[i]);
  WaitSlots wait;
  AddWait(app, &wait);
  LogsSlots logs;
  AddLogs(app, &logs);

  const CommandSlots* selected = nullptr;
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::vector<CLI::App*> parsed = app.get_subcommands();
    if (parsed.empty()) {
      std::string word = CommandWord(argc, argv);
      if (!word.empty() && FindCommand(commands, word) == nullptr) {
        PrintError("", UnknownCommandMessage(commands, word));
      } else {
        PrintError("", StrCat(e.what(), " ('berth --help' for usage)"));
      }
    } else {
      const std::string name = parsed.front()->get_name();
      PrintError(name, StrCat(e.what(), " ('berth ", name, " --help' lists the options)"));
    }
    return kExitError;
  }
  for (const CommandSlots& command : slots) {
    if (command.app->parsed()) selected = &command;
  }
  auto config = LoadConfig();
  if (!config.ok()) {
    PrintError("", std::string(config.status().message()));
    return kExitError;
  }
  auto connection = ResolveConnection(flags, *endpoint_option, *config);
  if (!connection.ok()) {
    PrintError("", std::string(connection.status().message()));
    return kExitError;
  }
  if (wait.app->parsed()) return Wait(wait, *connection, flags, *timeout_option);
  if (logs.app->parsed()) return Logs(logs, *connection, flags);
  if (selected == nullptr) {
    std::string word = CommandWord(argc, argv);
    PrintError("", word.empty() ? "a command is required ('berth --help' lists the commands)"
                                : UnknownCommandMessage(commands, word));
    return kExitError;
  }

  OutputFormat format = OutputFormat::kJson;
  const std::string output = !flags.output.empty() ? flags.output : config->output.value_or(kDefaultOutput);
  if (!ParseOutputFormat(output, &format)) {
    PrintError(selected->spec->name, StrCat("--output: must be json, text or table (got '", output, "')"));
    return kExitError;
  }
  std::chrono::milliseconds timeout{};
  if (!ParseTimeout(flags.timeout, &timeout)) {
    PrintError(selected->spec->name,
               StrCat("--timeout: expected a positive number of seconds, got '", flags.timeout, "'"));
    return kExitError;
  }
  return Invoke(*selected, *connection, format, timeout);
}

}  // namespace
}  // namespace berth::cli

int main(int argc, char** argv) { return berth::cli::Main(argc, argv); }
