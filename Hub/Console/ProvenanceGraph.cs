using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using static HealthTrain.Hub.Console.Markup;

namespace HealthTrain.Hub.Console;

/// <summary>
/// Draws a PROV-JSON document (as <see cref="Runs.RunProvenance"/> exports it) as an SVG picture: a layered layout
/// from left to right along the flow of data (entity → activity that used it → entity it generated), agents in the
/// first column joined to what they did or own by dashed lines. Nodes take the PROV shapes — entities ellipses,
/// activities rectangles, agents pentagons — and show their ledger entry.
/// </summary>
public static partial class ProvenanceGraph
{
    private const string Ns = "ht:";
    private const double NodeWidth = 172, NodeHeight = 54, ColumnStep = 214, RowStep = 66, Margin = 20;

    /// <summary>A node of the picture.</summary>
    public sealed record Node(string Id, string Kind, JsonObject Attributes)
    {
        public int Layer { get; set; }
        public int Row { get; set; }
    }

    /// <summary>An edge: a PROV relation from one node to another.</summary>
    public sealed record Edge(string From, string To, string Relation, bool OfAgent);

    /// <summary>
    /// The nodes and edges of <paramref name="prov"/>, limited to rounds up to <paramref name="uptoRound"/> when given
    /// (a model version's lineage: the rounds that led to it).
    /// </summary>
    public static (IReadOnlyList<Node> Nodes, IReadOnlyList<Edge> Edges) Graph(JsonObject prov, int? uptoRound = null)
    {
        var nodes = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var (section, kind) in new[] { ("agent", "agent"), ("entity", "entity"), ("activity", "activity") })
            if (prov[section] is JsonObject members)
                foreach (var (id, attributes) in members)
                    nodes[id] = new Node(id, kind, attributes as JsonObject ?? []);

        var edges = new List<Edge>();
        void Relations(string relation, string from, string to, bool ofAgent)
        {
            if (prov[relation] is not JsonObject members) return;
            foreach (var (_, value) in members)
                if (value is JsonObject r && r[from]?.GetValue<string>() is { } a && r[to]?.GetValue<string>() is { } b)
                    edges.Add(new Edge(a, b, relation, ofAgent));
        }
        Relations("used", "prov:entity", "prov:activity", false);
        Relations("wasGeneratedBy", "prov:activity", "prov:entity", false);
        Relations("wasInformedBy", "prov:informant", "prov:informed", false);
        Relations("wasDerivedFrom", "prov:usedEntity", "prov:generatedEntity", false);
        Relations("wasAssociatedWith", "prov:agent", "prov:activity", true);
        Relations("wasAttributedTo", "prov:agent", "prov:entity", true);

        if (uptoRound is { } upto)
        {
            foreach (var node in nodes.Values.Where(n => Long(n.Attributes[Ns + "round"]) > upto).ToList())
                nodes.Remove(node.Id);
            // What a dropped activity generated goes with it (a later round's station results).
            foreach (var e in edges.Where(e => e.Relation == "wasGeneratedBy" && !nodes.ContainsKey(e.From)).ToList())
                nodes.Remove(e.To);
            // Agents left with nothing to do in these rounds (a station that joined later) are dropped too.
            var edgesLeft = edges.Where(e => nodes.ContainsKey(e.From) && nodes.ContainsKey(e.To)).ToList();
            foreach (var agent in nodes.Values.Where(n => n.Kind == "agent" && !edgesLeft.Any(e => e.From == n.Id)).ToList())
                nodes.Remove(agent.Id);
        }
        edges = edges.Where(e => nodes.ContainsKey(e.From) && nodes.ContainsKey(e.To)).Distinct().ToList();
        Layout(nodes, edges);
        return (nodes.Values.OrderBy(n => n.Layer).ThenBy(n => n.Row).ToList(), edges);
    }

    /// <summary>Longest-path layers along the data flow, agents first; rows by id, then by the mean row of each node's inputs.</summary>
    private static void Layout(Dictionary<string, Node> nodes, List<Edge> edges)
    {
        var inputs = edges.Where(e => !e.OfAgent).ToLookup(e => e.To, e => e.From);
        var layers = new Dictionary<string, int>(StringComparer.Ordinal);
        int LayerOf(string id, HashSet<string> path)
        {
            if (layers.TryGetValue(id, out var known)) return known;
            if (nodes[id].Kind == "agent") return layers[id] = 0;
            if (!path.Add(id)) return 1; // a cycle would be a broken export: cut it rather than loop
            var layer = 1 + inputs[id].Where(nodes.ContainsKey).Select(i => LayerOf(i, path)).DefaultIfEmpty(0).Max();
            path.Remove(id);
            return layers[id] = Math.Max(layer, 1);
        }
        foreach (var node in nodes.Values) node.Layer = LayerOf(node.Id, []);

        var byLayer = nodes.Values.GroupBy(n => n.Layer).OrderBy(g => g.Key).ToList();
        foreach (var layer in byLayer)
        {
            var ordered = layer.OrderBy(n => NaturalKey(n.Id), StringComparer.Ordinal).ToList();
            for (var i = 0; i < ordered.Count; i++) ordered[i].Row = i;
            if (layer.Key == 0) continue;
            // One barycenter pass: a node sits near the nodes it came from, which keeps each station's row of work together.
            var sorted = ordered.Select((n, i) => (Node: n, Key: inputs[n.Id].Where(nodes.ContainsKey).Select(p => (double)nodes[p].Row).DefaultIfEmpty(i).Average(), Index: i))
                .OrderBy(x => x.Key).ThenBy(x => x.Index).ToList();
            for (var i = 0; i < sorted.Count; i++) sorted[i].Node.Row = i;
        }
    }

    /// <summary>The picture, with <paramref name="highlight"/> (e.g. the model version's merge result) outlined and labelled <paramref name="highlightLabel"/>.</summary>
    public static Markup Render(JsonObject prov, int? uptoRound = null, string? highlight = null, string? highlightLabel = null)
    {
        var (nodes, edges) = Graph(prov, uptoRound);
        if (nodes.Count == 0) return Html($"<p class=\"muted\">No provenance recorded.</p>");
        var byId = nodes.ToDictionary(n => n.Id);
        var width = Margin * 2 + nodes.Max(n => n.Layer) * ColumnStep + NodeWidth;
        var height = Margin * 2 + (nodes.GroupBy(n => n.Layer).Max(g => g.Count()) - 1) * RowStep + NodeHeight;
        double X(Node n) => Margin + n.Layer * ColumnStep;
        double Y(Node n) => Margin + n.Row * RowStep;

        var lines = edges.Select(e =>
        {
            var (a, b) = (byId[e.From], byId[e.To]);
            return Html($"<line class=\"edge {e.Relation}{(e.OfAgent ? " agent-edge" : "")}\" x1=\"{F(X(a) + NodeWidth)}\" y1=\"{F(Y(a) + NodeHeight / 2)}\" x2=\"{F(X(b))}\" y2=\"{F(Y(b) + NodeHeight / 2)}\"{(e.OfAgent ? Markup.Empty : new Markup(" marker-end=\"url(#arrow)\""))}><title>{e.Relation}</title></line>");
        });
        var shapes = nodes.Select(n => NodeMarkup(n, X(n), Y(n), n.Id == highlight ? highlightLabel : null));
        return Html($"""
            <svg class="provenance" xmlns="http://www.w3.org/2000/svg" width="{F(width)}" height="{F(height)}" viewBox="0 0 {F(width)} {F(height)}" role="img" aria-label="provenance graph">
            <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#667"/></marker></defs>
            {new Markup(Style)}
            {lines}
            {shapes}
            </svg>
            """);
    }

    private const string Style = """
        <style>
          .provenance text { font: 11px sans-serif; fill: #1d2330; }
          .provenance .edge { stroke: #667; stroke-width: 1.2; }
          .provenance .agent-edge { stroke: #c98b2b; stroke-dasharray: 4 3; stroke-width: 1; opacity: .6; }
          .provenance .entity .shape { fill: #fff6cc; stroke: #b8950a; }
          .provenance .activity .shape { fill: #dde8ff; stroke: #3b6fd8; }
          .provenance .agent .shape { fill: #ffe7cc; stroke: #d07a00; }
          .provenance .highlight .shape { stroke: #c0143c; stroke-width: 3; }
          .provenance .ledger { fill: #555; font-size: 10px; }
        </style>
        """;

    /// <summary>An integer member, whether it was built in memory or parsed.</summary>
    private static long? Long(JsonNode? node) => node is JsonValue v && long.TryParse(v.ToJsonString(), out var n) ? n : null;

    private static Markup NodeMarkup(Node n, double x, double y, string? highlightLabel)
    {
        var a = n.Attributes;
        var title = n.Id.StartsWith(Ns, StringComparison.Ordinal) ? n.Id[Ns.Length..] : n.Id;
        var detail = highlightLabel
            ?? (a[Ns + "digest"]?.GetValue<string>() is { } digest ? Short(digest)
            : Long(a[Ns + "round"]) is { } round ? $"round {round}{(a[Ns + "state"]?.GetValue<string>() is { } s ? " · " + s : "")}"
            : a[Ns + "role"]?.GetValue<string>() ?? a["prov:type"]?.GetValue<string>() ?? "");
        var ledger = Long(a[Ns + "ledgerEntry"]) is { } entry ? $"ledger #{entry}" : "";
        var (cx, cy) = (x + NodeWidth / 2, y + NodeHeight / 2);
        var shape = n.Kind switch
        {
            "entity" => Html($"<ellipse class=\"shape\" cx=\"{F(cx)}\" cy=\"{F(cy)}\" rx=\"{F(NodeWidth / 2)}\" ry=\"{F(NodeHeight / 2)}\"/>"),
            "activity" => Html($"<rect class=\"shape\" x=\"{F(x)}\" y=\"{F(y)}\" width=\"{F(NodeWidth)}\" height=\"{F(NodeHeight)}\" rx=\"3\"/>"),
            _ => Html($"<polygon class=\"shape\" points=\"{F(x)},{F(y + 12)} {F(cx)},{F(y)} {F(x + NodeWidth)},{F(y + 12)} {F(x + NodeWidth)},{F(y + NodeHeight)} {F(x)},{F(y + NodeHeight)}\"/>"),
        };
        var attributes = string.Join("\n", a.Select(kv => $"{kv.Key} = {kv.Value?.ToJsonString()}"));
        return Html($"""
            <g class="node {n.Kind}{(highlightLabel is null ? "" : " highlight")}" data-id="{n.Id}"><title>{n.Id}
            {attributes}</title>{shape}<text x="{F(cx)}" y="{F(y + 18)}" text-anchor="middle" font-weight="bold">{Clip(title, 28)}</text><text x="{F(cx)}" y="{F(y + 32)}" text-anchor="middle">{Clip(detail, 28)}</text><text class="ledger" x="{F(cx)}" y="{F(y + 46)}" text-anchor="middle">{ledger}</text></g>
            """);
    }

    /// <summary>Sort key that puts job/9 before job/10.</summary>
    private static string NaturalKey(string id) => Digits().Replace(id, m => m.Value.PadLeft(12, '0'));

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();

    private static string Short(string digest) => digest.Length > 19 ? digest[..19] + "…" : digest;

    private static string Clip(string text, int length) => text.Length > length ? text[..(length - 1)] + "…" : text;

    private static string F(double v) => v.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);
}
